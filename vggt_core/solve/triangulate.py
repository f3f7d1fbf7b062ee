"""Linear multi-view triangulation of many tracks at once (the start for bundle adjustment)."""
from __future__ import annotations

import numpy as np


def triangulate(
    intrinsics: np.ndarray, extrinsics: np.ndarray, uv: np.ndarray, seen: np.ndarray, min_views: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``[N, 3]`` (world) and ``ok [N]`` from observations ``uv [S, N, 2]`` (pixels) where ``seen [S, N]``.

    intrinsics [S,3,3], extrinsics [S,3,4] camera-from-world. Direct linear transform: each observation gives
    two equations (rows scaled to unit length, so every equation weighs the same); a track's point is the
    least-squares null vector of its equations, the eigenvector of the smallest eigenvalue of their 4x4 normal
    matrix. ``ok`` is False for tracks seen fewer than ``min_views`` times or behind any camera seeing them.

    Memory: O(N) plus one frame's observations at a time, never S x N temporaries (a long shot's tracks are
    each seen in a few dozen of its frames; a dense S x N x 4 system was tens of GB at 1000 frames).
    """
    proj = np.asarray(intrinsics, np.float64) @ np.asarray(extrinsics, np.float64)  # [S,3,4]
    normal = np.zeros((seen.shape[1], 4, 4))
    for s in range(seen.shape[0]):
        cols = np.flatnonzero(seen[s])
        obs = np.asarray(uv[s, cols], np.float64)  # [m,2]
        rows = obs[:, :, None] * proj[s, 2] - proj[s, :2]  # [m,2,4]: u P3 - P1, v P3 - P2
        rows /= np.linalg.norm(rows, axis=2, keepdims=True) + 1e-12
        normal[cols] += np.einsum("mki,mkj->mij", rows, rows)
    _, vectors = np.linalg.eigh(normal)
    hom = vectors[:, :, 0]  # eigenvalues ascending
    with np.errstate(divide="ignore", invalid="ignore"):
        points = hom[:, :3] / hom[:, 3:4]
    ok = (seen.sum(axis=0) >= min_views) & np.all(np.isfinite(points), axis=1)
    for s in range(seen.shape[0]):  # in front of every camera that sees it
        cols = np.flatnonzero(seen[s] & ok)
        depth = points[cols] @ np.asarray(extrinsics[s, 2, :3], np.float64) + float(extrinsics[s, 2, 3])
        ok[cols[~(depth > 0)]] = False
    points[~ok] = 0.0  # no NaN downstream
    return points, ok
