"""Linear multi-view triangulation of many tracks at once (the start for bundle adjustment)."""
from __future__ import annotations

import numpy as np


def triangulate(
    intrinsics: np.ndarray, extrinsics: np.ndarray, uv: np.ndarray, seen: np.ndarray, min_views: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``[N, 3]`` (world) and ``ok [N]`` from observations ``uv [S, N, 2]`` (pixels) where ``seen [S, N]``.

    intrinsics [S,3,3], extrinsics [S,3,4] camera-from-world. Direct linear transform, one batched SVD over
    all tracks; ``ok`` is False for tracks seen fewer than ``min_views`` times or behind any camera seeing them.
    """
    proj = np.asarray(intrinsics, np.float64) @ np.asarray(extrinsics, np.float64)  # [S,3,4]
    w = seen.astype(np.float64).T[:, :, None]  # [N,S,1]
    u = uv[..., 0].T[:, :, None]
    v = uv[..., 1].T[:, :, None]
    rows_u = w * (u * proj[None, :, 2] - proj[None, :, 0])  # [N,S,4]
    rows_v = w * (v * proj[None, :, 2] - proj[None, :, 1])
    a = np.concatenate([rows_u, rows_v], axis=1)
    a /= np.linalg.norm(a, axis=2, keepdims=True) + 1e-12  # equal weight per equation
    _, _, vt = np.linalg.svd(a, full_matrices=False)
    hom = vt[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        points = hom[:, :3] / hom[:, 3:4]
    depth = np.einsum("sij,nj->sni", extrinsics[:, :, :3], points)[..., 2] + extrinsics[:, None, 2, 3]
    ok = (seen.sum(axis=0) >= min_views) & np.all(np.isfinite(points), axis=1)
    ok &= ~np.any(seen & ~(depth > 0), axis=0)
    points[~ok] = 0.0  # no NaN downstream
    return points, ok
