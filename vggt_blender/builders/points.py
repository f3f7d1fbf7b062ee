"""The point cloud: a vertex-only mesh with per-point attributes and a Geometry Nodes modifier that
drops low-confidence points and turns the rest into renderable points with a colour material."""
from __future__ import annotations

import bpy
import numpy as np

from ..convert import PointArrays
from ..convert.setup import transform_points
from .datablocks import Ledger, new_object, photo_material

COLOR_ATTR = "Col"
CONF_ATTR = "confidence"
RANK_ATTR = "conf_percentile"
FRAME_ATTR = "frame"
THRESHOLD_INPUT = "Confidence Threshold"
RADIUS_INPUT = "Point Radius"
FIRST_FRAME_INPUT = "First Frame"  # reconstructed frame indices (the "frame" attribute), inclusive
LAST_FRAME_INPUT = "Last Frame"
DARK_INPUT = "Drop Darker Than"  # brightness of the linear colour, 0-1: 0 and 1 keep every point
BRIGHT_INPUT = "Drop Brighter Than"


def build_point_mesh(ledger: Ledger, pts: PointArrays, name: str) -> bpy.types.Mesh:
    """A mesh of ``len(pts)`` loose vertices with point attributes "Col" (FLOAT_COLOR, linear RGBA),
    "confidence" (FLOAT, raw), "conf_percentile" (FLOAT, 0-100 rank) and "frame" (INT)."""
    me = ledger.add(bpy.data.meshes.new(name))
    n = len(pts)
    me.vertices.add(n)
    me.attributes["position"].data.foreach_set("vector", pts.positions.ravel())  # ~10x faster than vertices.co
    col = me.color_attributes.new(COLOR_ATTR, "FLOAT_COLOR", "POINT")
    col.data.foreach_set("color", pts.colors.ravel())
    me.color_attributes.active_color = col
    if hasattr(me.color_attributes, "render_color_index"):
        me.color_attributes.render_color_index = me.color_attributes.active_color_index
    for attr_name, kind, key, arr in ((CONF_ATTR, "FLOAT", "value", pts.confidence),
                                      (RANK_ATTR, "FLOAT", "value", pts.conf_percentile),
                                      (FRAME_ATTR, "INT", "value", pts.frame)):
        me.attributes.new(attr_name, kind, "POINT").data.foreach_set(key, arr)
    me.update()
    return me


def build_point_material(ledger: Ledger, name: str) -> bpy.types.Material:
    """Emission material coloured by the "Col" point attribute (Cycles and EEVEE)."""
    mat, color_in = photo_material(ledger, name)
    nt = mat.node_tree
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_type = "GEOMETRY"
    attr.attribute_name = COLOR_ATTR
    attr.location = (-300, 0)
    nt.links.new(attr.outputs["Color"], color_in)
    return mat


def build_points_node_group(ledger: Ledger, name: str, material: bpy.types.Material,
                            attribute: str = RANK_ATTR) -> bpy.types.NodeTree:
    """GN group: delete points whose ``attribute`` < "Confidence Threshold", whose frame is outside
    "First Frame".."Last Frame", or whose colour's brightness is below "Drop Darker Than" or above "Drop
    Brighter Than" (background); Mesh to Points with "Point Radius", Set Material."""
    ng = ledger.add(bpy.data.node_groups.new(name, "GeometryNodeTree"))
    if hasattr(ng, "is_modifier"):
        ng.is_modifier = True
    iface = ng.interface
    iface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    thr = iface.new_socket(THRESHOLD_INPUT, in_out="INPUT", socket_type="NodeSocketFloat")
    thr.min_value, thr.max_value, thr.default_value = 0.0, 100.0 if attribute == RANK_ATTR else 1e9, 0.0
    rad = iface.new_socket(RADIUS_INPUT, in_out="INPUT", socket_type="NodeSocketFloat")
    rad.min_value, rad.default_value = 0.0, 0.005
    for label, kind, default in ((FIRST_FRAME_INPUT, "NodeSocketInt", 0), (LAST_FRAME_INPUT, "NodeSocketInt", 1 << 30),
                                 (DARK_INPUT, "NodeSocketFloat", 0.0), (BRIGHT_INPUT, "NodeSocketFloat", 1.0)):
        sock = iface.new_socket(label, in_out="INPUT", socket_type=kind)
        sock.min_value, sock.default_value = 0, default
        if kind == "NodeSocketFloat":
            sock.max_value = 1.0
    iface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")

    nodes, link = ng.nodes, ng.links.new
    gi, go = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    named = nodes.new("GeometryNodeInputNamedAttribute")
    named.data_type = "FLOAT"
    named.inputs["Name"].default_value = attribute
    less = nodes.new("FunctionNodeCompare")
    less.data_type, less.operation = "FLOAT", "LESS_THAN"
    delete = nodes.new("GeometryNodeDeleteGeometry")
    delete.domain = "POINT"
    to_points = nodes.new("GeometryNodeMeshToPoints")
    to_points.mode = "VERTICES"
    set_mat = nodes.new("GeometryNodeSetMaterial")
    set_mat.inputs["Material"].default_value = material

    link(named.outputs["Attribute"], less.inputs[0])  # inputs 0/1 are the FLOAT A/B
    link(gi.outputs[THRESHOLD_INPUT], less.inputs[1])
    link(gi.outputs["Geometry"], delete.inputs["Geometry"])
    drop = less.outputs["Result"]
    for attr, kind, op, bound in ((FRAME_ATTR, "INT", "LESS_THAN", FIRST_FRAME_INPUT),
                                  (FRAME_ATTR, "INT", "GREATER_THAN", LAST_FRAME_INPUT),
                                  (COLOR_ATTR, "FLOAT", "LESS_THAN", DARK_INPUT),  # a colour read as FLOAT: brightness
                                  (COLOR_ATTR, "FLOAT", "GREATER_THAN", BRIGHT_INPUT)):
        value = nodes.new("GeometryNodeInputNamedAttribute")
        value.data_type = kind
        value.inputs["Name"].default_value = attr
        cmp = nodes.new("FunctionNodeCompare")
        cmp.data_type, cmp.operation = kind, op
        # A and B of this type: the first two enabled inputs (up to 5.0 every type's sockets exist, hidden)
        a, b = [sock for sock in cmp.inputs if getattr(sock, "enabled", True)][:2]
        link(value.outputs["Attribute"], a)
        link(gi.outputs[bound], b)
        either = nodes.new("FunctionNodeBooleanMath")
        either.operation = "OR"
        link(drop, either.inputs[0])
        link(cmp.outputs["Result"], either.inputs[1])
        drop = either.outputs["Boolean"]
    link(drop, delete.inputs["Selection"])
    link(delete.outputs["Geometry"], to_points.inputs["Mesh"])
    link(gi.outputs[RADIUS_INPUT], to_points.inputs["Radius"])
    link(to_points.outputs["Points"], set_mat.inputs["Geometry"])
    link(set_mat.outputs["Geometry"], go.inputs[0])
    for x, node in enumerate((gi, named, less, delete, to_points, set_mat, go)):
        node.location = (x * 200 - 600, 0)
    return ng


def modifier_input_id(ng: bpy.types.NodeTree, name: str) -> str:
    """The modifier key (``socket.identifier``, e.g. "Socket_1") of group input ``name``."""
    for item in ng.interface.items_tree:
        if getattr(item, "in_out", None) == "INPUT" and item.name == name:
            return item.identifier
    raise KeyError(name)


def modifier_input(mod: bpy.types.Modifier, name: str) -> float:
    """The value of Geometry Nodes modifier ``mod``'s group input ``name``."""
    key = modifier_input_id(mod.node_group, name)
    if hasattr(mod, "properties"):  # 5.1+: typed inputs; ``mod[key]`` raises there
        return getattr(mod.properties.inputs, key).value
    return mod[key]


def set_modifier_input(mod: bpy.types.Modifier, name: str, value: float) -> None:
    """Set Geometry Nodes modifier ``mod``'s group input ``name`` (4.2 to 5.2)."""
    key = modifier_input_id(mod.node_group, name)
    if hasattr(mod, "properties"):
        getattr(mod.properties.inputs, key).value = value
    else:
        mod[key] = value


def set_points_inputs(obj: bpy.types.Object, threshold: float | None = None, radius: float | None = None) -> None:
    """Set the point modifier's threshold/radius on ``obj`` and tag it for re-evaluation."""
    mod = obj.modifiers["VGGT Points"]
    if threshold is not None:
        set_modifier_input(mod, THRESHOLD_INPUT, float(threshold))
    if radius is not None:
        set_modifier_input(mod, RADIUS_INPUT, float(radius))
    obj.update_tag()


def build_point_cloud(ledger: Ledger, pts: PointArrays, name: str, collection: bpy.types.Collection,
                      root: bpy.types.Object, radius: float, threshold: float = 0.0) -> bpy.types.Object:
    """Point mesh + material + GN modifier ("VGGT Points"), parented to ``root``."""
    me = build_point_mesh(ledger, pts, f"{name} points")
    mat = build_point_material(ledger, f"{name} points")
    me.materials.append(mat)
    ng = build_points_node_group(ledger, f"{name} points", mat)
    obj = new_object(ledger, f"{name} points", me, collection, parent=root)
    mod = obj.modifiers.new("VGGT Points", "NODES")
    mod.node_group = ng
    set_points_inputs(obj, threshold=threshold, radius=radius)
    if len(pts):
        set_modifier_input(mod, LAST_FRAME_INPUT, int(pts.frame.max()))
    return obj


def evaluated_point_count(obj: bpy.types.Object, depsgraph: bpy.types.Depsgraph | None = None) -> int:
    """Number of points the modifier stack outputs for ``obj`` (0 if none)."""
    dg = depsgraph or bpy.context.evaluated_depsgraph_get()
    dg.update()
    ev = obj.evaluated_get(dg)
    if hasattr(ev, "evaluated_geometry"):  # 5.0+: GeometrySet access
        geometry = ev.evaluated_geometry()  # keep it referenced: the point cloud lives inside it
        pc = geometry.pointcloud
        return len(pc.points) if pc is not None else 0
    # 4.x: non-mesh geometry components appear as depsgraph instances of the object
    total = 0
    for inst in dg.object_instances:
        o = inst.object
        if o.type == "POINTCLOUD" and o.original == obj:
            total += len(o.data.points)
    return total


def point_attribute(obj: bpy.types.Object, name: str) -> np.ndarray:
    """Read a point attribute of ``obj``'s (original) mesh back as a numpy array."""
    a = obj.data.attributes[name]
    n = len(a.data)
    if a.data_type == "FLOAT_COLOR":
        out = np.empty(n * 4, np.float32)
        a.data.foreach_get("color", out)
        return out.reshape(n, 4)
    if a.data_type == "FLOAT_VECTOR":
        out = np.empty(n * 3, np.float32)
        a.data.foreach_get("vector", out)
        return out.reshape(n, 3)
    out = np.empty(n, np.int32 if a.data_type == "INT" else np.float32)
    a.data.foreach_get("value", out)
    return out


def point_cloud_of(root: bpy.types.Object) -> bpy.types.Object | None:
    """The point cloud object under the import's root Empty ``root``, or None."""
    return next((o for o in root.children_recursive if o.type == "MESH" and "VGGT Points" in o.modifiers), None)


def world_vertices(obj: bpy.types.Object, selected_only: bool = False) -> np.ndarray:
    """World vertex positions [N, 3] of mesh ``obj`` (only the selected ones with ``selected_only``)."""
    me = obj.data
    n = len(me.vertices)
    co = np.empty(n * 3, dtype=np.float32)
    me.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3).astype(np.float64)
    if selected_only:
        sel = np.empty(n, dtype=bool)
        me.vertices.foreach_get("select", sel)
        co = co[sel]
    return transform_points(np.array(obj.matrix_world, dtype=np.float64), co)
