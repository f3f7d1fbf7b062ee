"""The fields of a ``Reconstruction`` that follow from its other fields.

Every step that makes or changes a ``Reconstruction`` (assembly from the network, stitching, the solve,
loading from the cache) recomputes them with this one function, so they always agree with the cameras
and depth they came from, and the cache need not store them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import geometry
from .plate.preprocess import valid_mask
from .reconstruction import PreprocessRecord


def derived_arrays(
    depth: np.ndarray, extrinsics: np.ndarray, intrinsics_model: np.ndarray, records: Sequence[PreprocessRecord]
) -> dict[str, np.ndarray]:
    """``points_from_depth`` and ``valid``, as ``Reconstruction`` keyword arguments.

    points_from_depth: ``depth`` [S,H,W] unprojected at pixel centres (u + 0.5, v + 0.5) through the
    camera-from-world ``extrinsics`` [S,3,4] and model-pixel ``intrinsics_model`` [S,3,3], in world units;
    valid: [S,H,W] bool, False in the padding each ``records[s]`` added.
    """
    return {
        "points_from_depth": geometry.unproject_depth_map_to_point_map(depth, extrinsics, intrinsics_model, pixel_offset=0.5),
        "valid": np.stack([valid_mask(r) for r in records]),
    }
