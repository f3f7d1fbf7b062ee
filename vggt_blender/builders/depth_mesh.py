"""Depth proxy meshes: one textured quad mesh per chosen frame, built with bulk ``foreach_set``."""
from __future__ import annotations

import bpy
import numpy as np

from ..convert import ProxyMesh
from .datablocks import Ledger, load_image, new_object, photo_material


def build_proxy_mesh(ledger: Ledger, pm: ProxyMesh, name: str) -> bpy.types.Mesh:
    """A quad mesh from ``pm`` with a "UVMap" into the frame's original image."""
    me = ledger.add(bpy.data.meshes.new(name))
    nv, nl, nf = len(pm.positions), len(pm.loop_vertex), pm.num_faces
    me.vertices.add(nv)
    me.attributes["position"].data.foreach_set("vector", pm.positions.ravel())
    me.loops.add(nl)
    me.loops.foreach_set("vertex_index", pm.loop_vertex)
    me.polygons.add(nf)
    me.polygons.foreach_set("loop_start", np.arange(0, nl, 4, dtype=np.int32))  # loop_total follows
    uv = me.uv_layers.new(name="UVMap")
    uv.data.foreach_set("uv", pm.uvs.ravel())
    me.update(calc_edges=True)
    return me


def build_frame_material(ledger: Ledger, name: str, frame_info) -> bpy.types.Material | None:
    """Emission material showing the frame's original image through the "UVMap".

    Stills load the image file; video frames use the movie as an image held on frame
    ``frame_info.index``. None when the source cannot be opened (e.g. the cache was moved).
    """
    img = load_image(ledger, frame_info.source)
    if img is None:
        return None
    mat, color_in = photo_material(ledger, name)
    nt = mat.node_tree
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = img
    tex.extension = "EXTEND"
    tex.location = (-350, 0)
    if frame_info.timestamp is not None or img.source == "MOVIE":
        # Hold one movie frame: with a 1-frame duration starting far in the past, Blender's image
        # user clamps every scene frame to 1, and shows movie frame 1 + offset (1-based) = index.
        iu = tex.image_user
        iu.frame_duration = 1
        iu.frame_start = -1_000_000
        iu.frame_offset = int(frame_info.index)
        iu.use_cyclic = False
        iu.use_auto_refresh = True
    nt.links.new(tex.outputs["Color"], color_in)
    return mat


def build_depth_proxy(ledger: Ledger, pm: ProxyMesh, name: str, collection: bpy.types.Collection,
                      root: bpy.types.Object, frame_info=None) -> bpy.types.Object:
    """Proxy object for ``pm`` parented to ``root`` (identity local matrix: vertices are VGGT world)."""
    me = build_proxy_mesh(ledger, pm, name)
    if frame_info is not None:
        mat = build_frame_material(ledger, name, frame_info)
        if mat is not None:
            me.materials.append(mat)
    obj = new_object(ledger, name, me, collection, parent=root)
    obj["vggt_frame"] = pm.frame
    return obj
