"""Choose which predicted pixels become 3D points: confidence, frames, padding, and a point budget."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..reconstruction import Reconstruction


@dataclass
class PointSet:
    """A coloured point cloud in the reconstruction's world frame.

    xyz: [N, 3] float32 world coordinates (VGGT normalised world, OpenCV axes).
    rgb: [N, 3] uint8 sRGB.
    conf: [N] float32 confidence (>= 1, larger is better).
    frame: [N] int32 index into ``Reconstruction.frames`` of the frame each point came from.
    """

    xyz: np.ndarray
    rgb: np.ndarray
    conf: np.ndarray
    frame: np.ndarray

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    def subset(self, index: np.ndarray) -> PointSet:
        """The points at ``index`` (int array or bool mask)."""
        return PointSet(self.xyz[index], self.rgb[index], self.conf[index], self.frame[index])


def select_points(
    recon: Reconstruction,
    source: str = "depth",
    conf_percentile: float = 50.0,
    conf_min: float | None = None,
    frames: Iterable[int] | None = None,
    max_points: int | None = None,
    voxel_size: float | None = None,
    seed: int = 0,
) -> PointSet:
    """Points from ``recon`` that pass the filters, in frame-major pixel order (unless subsampled).

    source: ``"depth"`` (``points_from_depth`` with ``depth_conf``; usually better) or ``"points"``
        (the point head's ``world_points`` with ``world_points_conf``).
    conf_percentile: as the original demo: drop points below this percentile (0..100) of the confidences
        considered (the chosen frames, padding excluded); points also need conf > 1e-5. 0 disables it.
    conf_min: also drop points with conf below this absolute value.
    frames: indices into ``recon.frames`` to take points from (default: all).
    voxel_size: if set, keep only the most confident point per cube of this edge length (world units).
    max_points: if more points remain, keep a uniformly random subset of this size (fixed ``seed``).
    Non-finite points and padded pixels (``recon.valid`` False) are always dropped.
    """
    if source == "depth":
        xyz, conf = recon.points_from_depth, recon.depth_conf
    elif source == "points":
        xyz, conf = recon.world_points, recon.world_points_conf
    else:
        raise ValueError(f"source must be 'depth' or 'points', got {source!r}")
    chosen = np.arange(recon.num_frames) if frames is None else np.unique(np.asarray(list(frames), dtype=np.int64))
    keep = recon.valid[chosen] & np.isfinite(xyz[chosen]).all(axis=-1)  # [F, H, W]
    conf = conf[chosen]
    if conf_percentile > 0 and keep.any():
        threshold = np.percentile(conf[keep], conf_percentile)
        keep &= (conf >= threshold) & (conf > 1e-5)
    if conf_min is not None:
        keep &= conf >= conf_min
    f, v, u = np.nonzero(keep)
    src = chosen[f]
    points = PointSet(
        xyz=np.ascontiguousarray(xyz[src, v, u], dtype=np.float32),
        rgb=np.ascontiguousarray(recon.colors[src, v, u], dtype=np.uint8),
        conf=np.ascontiguousarray(conf[f, v, u], dtype=np.float32),
        frame=src.astype(np.int32),
    )
    if voxel_size is not None:
        points = points.subset(voxel_best(points.xyz, points.conf, voxel_size))
    if max_points is not None and len(points) > max_points:
        rng = np.random.default_rng(seed)
        points = points.subset(np.sort(rng.choice(len(points), size=max_points, replace=False)))
    return points


def voxel_best(xyz: np.ndarray, conf: np.ndarray, voxel_size: float) -> np.ndarray:
    """Sorted indices of the most confident point in each occupied voxel of edge ``voxel_size``."""
    if not voxel_size > 0:
        raise ValueError(f"voxel_size must be > 0, got {voxel_size}")
    if len(xyz) == 0:
        return np.zeros(0, dtype=np.int64)
    cells = np.floor(xyz / voxel_size).astype(np.int64)
    cells -= cells.min(axis=0)
    dims = cells.max(axis=0) + 1
    if np.prod(dims.astype(np.float64)) < 2**62:
        ids = np.ravel_multi_index(cells.T, dims)
    else:  # astronomically many cells: fall back to row-wise uniqueness
        ids = np.unique(cells, axis=0, return_inverse=True)[1].ravel()
    order = np.lexsort((-conf, ids))  # by voxel, most confident first
    first = np.ones(len(order), dtype=bool)
    first[1:] = ids[order][1:] != ids[order][:-1]
    return np.sort(order[first])
