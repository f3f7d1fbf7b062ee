"""Scene setup operators: Set Floor, Set Origin, Set Forward, Level Horizon, Set Scale.

Each one changes only the matrix of the reconstruction's root Empty (the object with custom property
"vggt_root"), so cameras, points, proxies and markers move together and nothing is re-run. The
math is ``convert.setup``; here only reading the scene and writing one matrix (plus, for a scale,
the cameras' clipping range, which Blender keeps in world units).
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty
from mathutils import Matrix

from ..builders.datablocks import ROOT_KEY
from ..builders.points import point_cloud_of, world_vertices
from ..convert import setup as su
from ..runs import runs



# ---- reading the reconstruction ----------------------------------------------------------------
def find_root(context: bpy.types.Context) -> bpy.types.Object | None:
    """The root Empty of the import the user points at: an ancestor of the active object, else the
    root of the active VGGT collection, else the scene's only root; None when there is none."""
    obj = context.active_object
    while obj is not None:
        if obj.get(ROOT_KEY):
            return obj
        obj = obj.parent
    col = runs.find_vggt_collection(context)
    if col is not None:
        roots = [o for o in col.all_objects if o.get(ROOT_KEY)]
        if roots:
            return roots[0]
    roots = [o for o in context.scene.objects if o.get(ROOT_KEY)]
    return roots[0] if len(roots) == 1 else None


def _descendants(root: bpy.types.Object) -> list[bpy.types.Object]:
    return list(root.children_recursive)


def _world(obj: bpy.types.Object) -> np.ndarray:
    return np.array(obj.matrix_world, dtype=np.float64)


def cameras_of(root: bpy.types.Object) -> list[bpy.types.Object]:
    """The per-frame cameras under ``root`` (objects tagged "vggt_frame"), else every camera under it."""
    cams = [o for o in _descendants(root) if o.type == "CAMERA"]
    per_frame = [o for o in cams if "vggt_frame" in o]
    return per_frame or cams


def camera_rotations(root: bpy.types.Object) -> np.ndarray:
    """[S, 3, 3] each camera's world rotation: columns are its right, up and backward axes (local +X, +Y, +Z),
    unit length (an object scale removed)."""
    mats = [_world(o)[:3, :3] for o in cameras_of(root)]
    if not mats:
        raise ValueError("the reconstruction has no cameras")
    return np.array([m / np.linalg.norm(m, axis=0) for m in mats])


def camera_centres_and_ups(root: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """World camera centres [S, 3] and unit up vectors [S, 3] (a Blender camera's local +Y)."""
    mats = [_world(o) for o in cameras_of(root)]
    if not mats:
        raise ValueError("the reconstruction has no cameras")
    centres = np.array([m[:3, 3] for m in mats])
    ups = np.array([m[:3, 1] / np.linalg.norm(m[:3, 1]) for m in mats])
    return centres, ups


def floor_candidates(root: bpy.types.Object) -> np.ndarray:
    """World points to look for the floor in: the confident half of the point cloud (by its
    "conf_percentile" attribute), else the depth proxies' vertices."""
    cloud = point_cloud_of(root)
    if cloud is not None and len(cloud.data.vertices):
        pts = world_vertices(cloud)
        rank = cloud.data.attributes.get("conf_percentile")
        if rank is not None:
            r = np.empty(len(pts), dtype=np.float32)
            rank.data.foreach_get("value", r)
            pts = pts[r >= np.median(r)]
        return pts
    meshes = [o for o in _descendants(root) if o.type == "MESH" and len(o.data.vertices)]
    if not meshes:
        raise ValueError("no points to find a floor in: import the point cloud or depth proxies")
    return np.concatenate([world_vertices(o) for o in meshes])


def selected_points(context: bpy.types.Context) -> np.ndarray:
    """World positions [N, 3] of the selected vertices of selected (or edited) meshes; with none,
    the locations of the selected objects."""
    objs = {o for o in context.selected_objects}
    if context.edit_object is not None:
        objs.add(context.edit_object)
    chunks = []
    for obj in objs:
        if obj.type != "MESH":
            continue
        if obj.mode == "EDIT":
            obj.update_from_editmode()  # edit-mode selection reaches the mesh only on sync
        chunks.append(world_vertices(obj, selected_only=True))
    pts = np.concatenate(chunks) if chunks else np.zeros((0, 3))
    if len(pts) == 0:
        pts = np.array([list(o.matrix_world.translation) for o in context.selected_objects]).reshape(-1, 3)
    return pts


# ---- writing the root --------------------------------------------------------------------------
def apply_to_root(root: bpy.types.Object, d: np.ndarray, view_layer: bpy.types.ViewLayer | None = None) -> None:
    """``root = d @ root`` (``d`` [4, 4] world transform). A uniform scale in ``d`` also scales the
    clipping range of the cameras under the root: Blender keeps clipping in world units."""
    factor = su.scale_of(d)
    root.matrix_world = Matrix((d @ _world(root)).tolist())
    if abs(factor - 1.0) > 1e-12:
        for cam in {o.data for o in _descendants(root) if o.type == "CAMERA"}:
            cam.clip_start *= factor
            cam.clip_end *= factor
    if view_layer is not None:
        view_layer.update()


def auto_floor(root: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """(floor transform D [4, 4], the floor's centre [3] in world coordinates after D) from the
    point cloud, preferring the large plane the cameras look down on."""
    centres, ups = camera_centres_and_ups(root)
    plane = su.detect_floor(floor_candidates(root), centres, ups)
    d = su.floor_transform(plane.normal, plane.centre)
    return d, su.transform_points(d, plane.centre)[0]


def floor_from_points(root: bpy.types.Object, points: np.ndarray) -> np.ndarray:
    """Floor transform D from (at least 3) points on the floor; the cameras end up above it."""
    if len(points) < 3:
        raise ValueError("select at least 3 points on the floor")
    normal, offset = su.fit_plane(points)
    plane = su.orient_towards(su.Plane(normal, offset, np.ones(len(points), bool), points.mean(0)),
                              camera_centres_and_ups(root)[0])
    return su.floor_transform(plane.normal, plane.centre)


# ---- operators -----------------------------------------------------------------------------------
class RootPoll:
    """Mixin for a ``bpy.types.Operator`` that works on the selected import (``find_root``)."""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if context.scene is None or find_root(context) is None:
            cls.poll_message_set("Select an object of a VGGT import")
            return False
        return True


class _RootOperator(RootPoll, bpy.types.Operator):
    bl_options = {"REGISTER", "UNDO"}

    def transform(self, context: bpy.types.Context, root: bpy.types.Object) -> np.ndarray:
        raise NotImplementedError

    def execute(self, context: bpy.types.Context) -> set[str]:
        root = find_root(context)
        try:
            d = self.transform(context, root)
        except ValueError as err:  # one line, scene untouched
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        apply_to_root(root, d, context.view_layer)
        return {"FINISHED"}


class VGGT_OT_set_floor(_RootOperator):
    """Make the floor Z = 0 with the cameras above it: found automatically, or fitted to the selected points"""

    bl_idname = "vggt.set_floor"
    bl_label = "Set Floor"
    source: EnumProperty(name="From", items=(
        ("AUTO", "Automatic", "The largest plane the cameras look down on"),
        ("SELECTED", "Selected Points", "A plane through the selected vertices (3 or more)")), default="AUTO")

    def transform(self, context, root):
        if self.source == "AUTO":
            return auto_floor(root)[0]
        return floor_from_points(root, selected_points(context))


class VGGT_OT_set_origin(_RootOperator):
    """Move the reconstruction so the 3D cursor, the selection's centre or the floor's centre is the world origin"""

    bl_idname = "vggt.set_origin"
    bl_label = "Set Origin"
    target: EnumProperty(name="To", items=(
        ("CURSOR", "3D Cursor", ""), ("SELECTED", "Selection", "The centre of the selected points or objects"),
        ("FLOOR", "Floor Centre", "The centre of the automatically found floor (keeps its height)")),
        default="CURSOR")

    def transform(self, context, root):
        if self.target == "CURSOR":
            return su.origin_transform(np.array(context.scene.cursor.location))
        if self.target == "FLOOR":
            d, centre = auto_floor(root)
            return su.origin_transform(su.transform_points(np.linalg.inv(d), centre)[0], keep_height=True)
        pts = selected_points(context)
        if len(pts) == 0:
            raise ValueError("select points or objects to take the origin from")
        return su.origin_transform(pts.mean(axis=0))


class VGGT_OT_set_forward(_RootOperator):
    """Turn the reconstruction about Z so a direction points along +Y: from the first to the second of two
    selected points, else the active camera's view"""

    bl_idname = "vggt.set_forward"
    bl_label = "Set Forward"

    def transform(self, context, root):
        pts = selected_points(context)
        if len(pts) == 2:
            return su.forward_transform(pts[1] - pts[0])
        cam = context.scene.camera
        if cam is None:
            raise ValueError("select two points (a direction), or set an active camera")
        return su.forward_transform(-_world(cam)[:3, 2])


class VGGT_OT_level(_RootOperator):
    """Level the horizon: roll the scene so the cameras' horizontal axes are level, keeping their pitch"""

    bl_idname = "vggt.level"
    bl_label = "Level Horizon"

    def transform(self, context, root):
        return su.level_transform(camera_rotations(root))


class VGGT_OT_set_scale(_RootOperator):
    """Scale the reconstruction about the world origin: two selected points a known distance apart, or the
    cameras' height above the floor"""

    bl_idname = "vggt.set_scale"
    bl_label = "Set Scale"
    mode: EnumProperty(name="From", items=(
        ("DISTANCE", "Two Points", "The two selected points are Distance apart"),
        ("CAMERA_HEIGHT", "Camera Height", "The cameras' mean height above the floor (Z = 0) is Distance")),
        default="DISTANCE")
    distance: FloatProperty(name="Distance", default=1.0, min=1e-6, unit="LENGTH", subtype="DISTANCE")

    def transform(self, context, root):
        if self.mode == "CAMERA_HEIGHT":
            factor = su.camera_height_scale(camera_centres_and_ups(root)[0], self.distance)
        else:
            pts = selected_points(context)
            if len(pts) != 2:
                raise ValueError(f"select exactly two points ({len(pts)} selected)")
            factor = su.distance_scale(pts[0], pts[1], self.distance)
        return su.scale_transform(factor)


class VGGT_OT_add_shadow_catcher(_RootOperator):
    """Add a shadow catcher plane on the floor (Z = 0) under the reconstruction, for renders over the plate"""

    bl_idname = "vggt.add_shadow_catcher"
    bl_label = "Add Shadow Catcher"

    def execute(self, context: bpy.types.Context) -> set[str]:
        root = find_root(context)
        pts = floor_candidates_or_cameras(root)
        lo, hi = np.percentile(pts[:, :2], [2.0, 98.0], axis=0)
        centre, half = (lo + hi) / 2, max(float(np.max(hi - lo)), 1e-3)  # twice the points' extent
        me = bpy.data.meshes.new(f"{root.name} shadow catcher")
        corners = ((-1, -1), (1, -1), (1, 1), (-1, 1))
        me.from_pydata([(centre[0] + x * half, centre[1] + y * half, 0.0) for x, y in corners], [], [(0, 1, 2, 3)])
        obj = bpy.data.objects.new(me.name, me)
        for col in root.users_collection:
            col.objects.link(obj)
        obj.parent = root  # moves with later floor / origin / scale changes; placed in world now
        obj.matrix_parent_inverse = root.matrix_world.inverted()
        obj.is_shadow_catcher = True
        return {"FINISHED"}


def floor_candidates_or_cameras(root: bpy.types.Object) -> np.ndarray:
    """World points that show the scene's extent: the floor candidates, else the camera centres."""
    try:
        return floor_candidates(root)
    except ValueError:
        return camera_centres_and_ups(root)[0]


class VGGT_OT_look_through(bpy.types.Operator):
    """Make the active camera the scene camera with the resolution and pixel aspect of its own frame
    (per-frame cameras of other sizes line up with their photo), and look through it"""

    bl_idname = "vggt.look_through"
    bl_label = "Look Through"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        if obj is None or obj.type != "CAMERA":
            cls.poll_message_set("Select a camera")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        from ..builders.cameras import make_active_camera

        make_active_camera(context.scene, context.active_object)
        space = context.space_data
        if space is not None and space.type == "VIEW_3D":
            space.region_3d.view_perspective = "CAMERA"
        return {"FINISHED"}


def draw_panel(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """The panel's "Scene Setup" box (only when an import is selected)."""
    if find_root(context) is None:
        return
    box = layout.box()
    box.label(text="Scene Setup")
    row = box.row(align=True)
    row.operator(VGGT_OT_set_floor.bl_idname, text="Floor (Auto)").source = "AUTO"
    row.operator(VGGT_OT_set_floor.bl_idname, text="Floor (Selected)").source = "SELECTED"
    row = box.row(align=True)
    row.operator(VGGT_OT_set_origin.bl_idname, text="Origin: Cursor").target = "CURSOR"
    row.operator(VGGT_OT_set_origin.bl_idname, text="Selection").target = "SELECTED"
    row.operator(VGGT_OT_set_origin.bl_idname, text="Floor").target = "FLOOR"
    row = box.row(align=True)
    row.operator(VGGT_OT_set_forward.bl_idname)
    row.operator(VGGT_OT_level.bl_idname)
    row = box.row(align=True)
    op = row.operator(VGGT_OT_set_scale.bl_idname, text="Scale: Two Points")
    op.mode = "DISTANCE"
    op = row.operator(VGGT_OT_set_scale.bl_idname, text="Camera Height")
    op.mode, op.distance = "CAMERA_HEIGHT", 1.6
    row = box.row(align=True)
    row.operator(VGGT_OT_add_shadow_catcher.bl_idname, icon="MESH_PLANE")
    row.operator(VGGT_OT_look_through.bl_idname, icon="VIEW_CAMERA")


classes = (VGGT_OT_set_floor, VGGT_OT_set_origin, VGGT_OT_set_forward, VGGT_OT_level, VGGT_OT_set_scale,
           VGGT_OT_add_shadow_catcher, VGGT_OT_look_through)
