"""Pure-numpy math that turns a ``Reconstruction`` into what Blender needs (no bpy in this package).

Frames of reference:

* *VGGT world* (the ``Reconstruction``'s world): camera 0, OpenCV axes (x right, y down, z forward).
  Every array returned here (camera matrices, points, proxy vertices) is in VGGT world; the importer
  parents everything to one root Empty whose matrix (``root_matrix``) turns VGGT world into a
  Z-up Blender scene: ``(x, y, z) -> (x, z, -y)``, times a uniform scale.
* *Blender camera*: looks down its local -Z with +Y up, i.e. the OpenCV camera with y and z negated.
* *Pixels*: continuous, the image spans ``[0, W] x [0, H]``, pixel centres at ``i + 0.5`` (the
  ``Reconstruction`` convention, also Blender's). So no half-pixel shift appears anywhere here.

Modules by subject: ``settings``, ``cameras``, ``timeline`` (plate and timeline frames), ``names``,
``points``, ``proxies``, ``undistorted`` (the undistorted plate and overscan camera) (colour transfer functions come from ``vggt_core.plate.colour``, plate frame numbers from
``vggt_core.plate.frame_numbers``); ``setup`` (floor, origin, scale), ``chan`` (Nuke camera files) and ``nuke_script``
(the Nuke QC script) are used as modules. Every other public name is re-exported here.
"""
from __future__ import annotations

from vggt_core.plate import linear_to_srgb, srgb_to_linear

from .cameras import (Z_UP, BlenderCamera, camera_display_size, camera_matrix_world, clip_range, frame_cameras,
                      opencv_to_blender_camera, root_matrix)
from .names import NAME_SUFFIX_ROOM, default_name, frame_labels, max_name_bytes, safe_name
from .points import PointArrays, confidence_rank, point_arrays, point_cloud_arrays
from .proxies import ProxyMesh, depth_proxy_mesh, model_to_original_uv, proxy_frame_indices
from .settings import INTERPOLATIONS, ImportSettings, PlateSettings
from .timeline import default_plate, import_timeline, movie_plate_start, sequence_plate_anchor, timeline_frames
from .undistorted import UndistortedPlate, clear_plates, overscan_camera, plates_usage, undistorted_plate

__all__ = [
    "Z_UP", "BlenderCamera", "camera_display_size", "camera_matrix_world", "clip_range", "frame_cameras",
    "opencv_to_blender_camera", "root_matrix", "linear_to_srgb", "srgb_to_linear", "NAME_SUFFIX_ROOM", "default_name",
    "frame_labels", "max_name_bytes", "safe_name", "PointArrays", "confidence_rank", "point_arrays", "point_cloud_arrays", "ProxyMesh",
    "depth_proxy_mesh", "model_to_original_uv", "proxy_frame_indices", "INTERPOLATIONS", "ImportSettings",
    "PlateSettings", "default_plate", "import_timeline", "movie_plate_start",
    "sequence_plate_anchor", "timeline_frames", "UndistortedPlate", "clear_plates", "overscan_camera", "plates_usage",
    "undistorted_plate",
]
