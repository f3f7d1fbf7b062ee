"""What goes out: the points chosen for export, COLMAP sparse models, binary PLY, GLB point clouds, locators and
the lens package (lens.json, ST-maps, the undistorted plate). Names load on first use."""
from __future__ import annotations

from .. import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".points": ("PointSet", "select_points", "voxel_best", "masked_sample"),
    ".colmap": ("write_colmap_dataset", "write_colmap", "image_names"),
    ".ply": ("write_ply",),
    ".glb": ("write_points_glb", "Z_UP_TO_GLTF"),
    ".locators": ("select_locators", "DEFAULT_COUNT"),
    ".lens_package": ("LensPackage", "ShotLens", "lens_from_reconstruction", "shot_lens", "stmap_names",
                      "undistort_stmap", "redistort_stmap", "write_exr", "write_lens_package", "undistorted_name",
                      "write_undistorted_plate", "export_lens", "UNDISTORT_MAP", "REDISTORT_MAP",
                      "UNDISTORT_SEQUENCE", "REDISTORT_SEQUENCE", "LENS_JSON"),
})
