"""The import's points out of Blender: the coloured point cloud as GLB, and a COLMAP dataset in the scene's world."""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Callable

import bpy
import numpy as np

from ..builders.points import COLOR_ATTR, point_cloud_of, world_vertices
from ..convert import ImportSettings
from ..convert import setup as su
from .imported import cached_reconstruction, collection_of, frame_numbers_of

if TYPE_CHECKING:
    from vggt_core import PointSet, Reconstruction


def export_points_glb(root: bpy.types.Object, path: str) -> str:
    """The import's point cloud (all imported points, world coordinates, linear colours) as GLB."""
    from vggt_core.deliver import Z_UP_TO_GLTF, write_points_glb

    cloud = point_cloud_of(root)
    if cloud is None or not len(cloud.data.vertices):
        raise ValueError("the import has no point cloud")
    me = cloud.data
    xyz = world_vertices(cloud)
    rgba = np.empty(len(me.vertices) * 4, dtype=np.float32)
    me.color_attributes[COLOR_ATTR].data.foreach_get("color", rgba)
    path = os.path.abspath(bpy.path.abspath(path))
    write_points_glb(path, xyz @ Z_UP_TO_GLTF.T, rgba.reshape(-1, 4)[:, :3])
    return path


def export_colmap(root: bpy.types.Object, directory: str, recon: "Reconstruction | None" = None,
                  points: "PointSet | None" = None, progress: Callable[[float], None] | None = None) -> str:
    """A COLMAP dataset (``vggt_core.deliver.colmap``) in the scene's world: the root's transform (Z up,
    floor, origin, scale) is applied to the cameras and points. ``recon`` defaults to the import's
    cache, ``points`` to the points its import settings select. Returns the absolute folder."""
    from vggt_core import write_colmap_dataset
    from vggt_core import select_points

    col = collection_of(root)
    if recon is None:
        recon = cached_reconstruction(col)
    if points is None:
        st = ImportSettings.from_json(col["vggt_settings"]) if col is not None else ImportSettings()
        points = select_points(recon, source=st.point_source, conf_percentile=st.conf_percentile,
                               max_points=st.max_points)
    m = np.array(root.matrix_world, dtype=np.float64)
    points = dataclasses.replace(points, xyz=su.transform_points(m, points.xyz).astype(np.float32))
    moved = dataclasses.replace(recon, extrinsics=su.transform_extrinsics(recon.extrinsics, m).astype(np.float32))
    directory = os.path.abspath(bpy.path.abspath(directory))
    write_colmap_dataset(directory, moved, points, progress, frame_numbers_of(col, recon))
    return directory
