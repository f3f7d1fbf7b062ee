"""The QC render's temporary overlay (bpy): marker octahedra, the ground grid and the plate card.

Every datablock is recorded in the caller's ``Ledger``, so ``ledger.rollback()`` removes the overlay.
Colours are flat (Workbench, FLAT lighting, MATERIAL/TEXTURE colour): markers ``MARKER_RGB``, grid ``GRID_RGB``.
"""
from __future__ import annotations

from typing import Sequence

import bpy
import numpy as np

from ..convert import qc
from .datablocks import Ledger, fcurve_ensure, new_object, node_tree_of, set_keys

MARKER_RGB = (1.0, 0.15, 0.0)
GRID_RGB = (0.1, 0.9, 1.0)


def _flat_material(ledger: Ledger, name: str, rgb: Sequence[float]) -> bpy.types.Material:
    mat = ledger.add(bpy.data.materials.new(name))
    mat.diffuse_color = (*rgb, 1.0)  # what Workbench's MATERIAL/TEXTURE colour shows for untextured faces
    return mat


def _mesh_object(ledger: Ledger, name: str, verts: np.ndarray, faces: np.ndarray, mat: bpy.types.Material,
                 collection: bpy.types.Collection) -> bpy.types.Object:
    me = ledger.add(bpy.data.meshes.new(name))
    me.from_pydata(verts.tolist(), [], faces.tolist())  # small meshes (a few thousand vertices)
    me.materials.append(mat)
    return new_object(ledger, name, me, collection)


def build_markers(ledger: Ledger, collection: bpy.types.Collection, points: np.ndarray,
                  radius: float) -> bpy.types.Object:
    """Octahedra of ``radius`` at ``points`` [N, 3] (world), one mesh drawn in front of the rest."""
    verts, faces = qc.octahedra(points, radius)
    obj = _mesh_object(ledger, "VGGT QC markers", verts, faces, _flat_material(ledger, "VGGT QC marker", MARKER_RGB),
                       collection)
    obj.show_in_front = True  # a marker behind the grid or the scene still shows where the point reprojects
    return obj


def build_grid(ledger: Ledger, collection: bpy.types.Collection, centre: np.ndarray, half_size: float,
               lines: int = 11) -> bpy.types.Object:
    """The ground grid on Z = 0 (world), ``lines`` lines each way over ``2 * half_size``."""
    verts, faces = qc.grid_mesh(centre, half_size, lines, width=half_size / 150)
    return _mesh_object(ledger, "VGGT QC grid", verts, faces, _flat_material(ledger, "VGGT QC grid", GRID_RGB),
                        collection)


def build_plate_card(ledger: Ledger, collection: bpy.types.Collection, scene: bpy.types.Scene,
                     cam: bpy.types.Object, image: bpy.types.Image, image_user: dict, uv_crop: Sequence[float],
                     frames: Sequence[int], distance: float) -> bpy.types.Object:
    """A card parented to ``cam`` that fills its frame at ``distance`` (camera-local units) at each of
    ``frames`` (keyed, constant: it follows an animated lens or shift), textured with ``image`` (its image
    user set from ``image_user``: frame_start, frame_offset, frame_duration) over ``uv_crop``."""
    me = ledger.add(bpy.data.meshes.new("VGGT QC plate"))
    me.from_pydata([(-0.5, -0.5, 0), (0.5, -0.5, 0), (0.5, 0.5, 0), (-0.5, 0.5, 0)], [], [(0, 1, 2, 3)])
    u0, v0, u1, v1 = uv_crop
    me.uv_layers.new(name="UV").data.foreach_set("uv", [u0, v0, u1, v0, u1, v1, u0, v1])
    mat = ledger.add(bpy.data.materials.new("VGGT QC plate"))
    nt = node_tree_of(mat)
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image, tex.interpolation = image, "Closest"  # one plate pixel per render pixel: no resampling blur
    for key, value in image_user.items():
        setattr(tex.image_user, key, value)
    tex.image_user.use_auto_refresh = True
    nt.nodes.active = tex  # Workbench's TEXTURE colour shows the active image node
    me.materials.append(mat)
    card = new_object(ledger, "VGGT QC plate", me, collection, parent=cam)
    locs, scales = [], []
    for f in frames:
        scene.frame_set(f)
        loc, scale = qc.card_placement(np.array([v[:] for v in cam.data.view_frame(scene=scene)]), distance)
        locs.append(loc)
        scales.append(scale)
    for path, vals in (("location", np.array(locs)), ("scale", np.array(scales))):
        for k in range(3):
            set_keys(fcurve_ensure(card, path, k, ledger), list(frames), vals[:, k], "CONSTANT")
    return card
