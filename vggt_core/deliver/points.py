"""Choose which predicted pixels become 3D points: confidence, frames, padding, and a point budget."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..reconstruction import Reconstruction

PERCENTILE_SAMPLE = 1 << 22  # confidences a percentile threshold reads at most (see select_points)


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
        considered (the chosen frames, padding excluded); points also need conf > 1e-5. 0 disables it. Beyond
        ``PERCENTILE_SAMPLE`` such confidences (a long shot) the percentile is of a uniform sample that large
        (its rank off by ~0.03 points), not of a copy of every pixel.
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
    if frames is None:  # every frame: views, not copies of the shot's dense maps
        chosen = np.arange(recon.num_frames)
        keep = recon.valid.copy()
    else:
        chosen = np.unique(np.asarray(list(frames), dtype=np.int64))
        keep, xyz, conf = recon.valid[chosen], xyz[chosen], conf[chosen]  # [F, H, W]
    for axis in range(3):  # 3x faster than isfinite(xyz).all(axis=-1), a reduction over a length-3 axis
        keep &= np.isfinite(xyz[..., axis])
    if conf_percentile > 0 and keep.any():
        threshold = np.percentile(masked_sample(conf, keep, PERCENTILE_SAMPLE, seed), conf_percentile)
        keep &= (conf >= threshold) & (conf > 1e-5)
    if conf_min is not None:
        keep &= conf >= conf_min
    flat = np.flatnonzero(keep)  # one index array, not nonzero's three (~10x faster)
    if max_points is not None and len(flat) > max_points and voxel_size is None:
        flat = flat[_random_subset(len(flat), max_points, seed)]  # capped before the gather: the same subset
    f, v, u = np.unravel_index(flat, keep.shape)
    src = chosen[f]
    points = PointSet(
        xyz=np.ascontiguousarray(xyz[f, v, u], dtype=np.float32),
        rgb=np.ascontiguousarray(recon.colors[src, v, u], dtype=np.uint8),
        conf=np.ascontiguousarray(conf[f, v, u], dtype=np.float32),
        frame=src.astype(np.int32),
    )
    if voxel_size is not None:
        points = points.subset(voxel_best(points.xyz, points.conf, voxel_size))
        if max_points is not None and len(points) > max_points:
            points = points.subset(_random_subset(len(points), max_points, seed))
    return points


def masked_sample(values: np.ndarray, mask: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """[~size] of ``values`` where ``mask`` (a bool array of the same shape), drawn uniformly with replacement;
    all of them, in order, when there are no more than ``size``. Drawn over the whole array and kept where
    ``mask``: ``values[mask]`` first would copy a long shot's every pixel (0.6 GB of float32 for 1000 frames at
    294x518) to keep a few."""
    n_mask = int(np.count_nonzero(mask))
    if n_mask <= size:
        return values[mask]
    index = np.random.default_rng(seed).integers(0, values.size, size=math.ceil(size * values.size / n_mask))
    return values.ravel()[index[mask.ravel()[index]]]


def _random_subset(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of a uniformly random ``size``-subset of ``range(n)``, fixed by ``seed``."""
    # shuffle=False: the same subset, without shuffling an order the sort discards
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False, shuffle=False))


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
