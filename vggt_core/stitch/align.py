"""The robust Sim(3) that takes a chunk's own normalised world into the shot's world, fitted on shared frames."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import geometry
from ..errors import InputError
from ..reconstruction import Reconstruction

POINTS_PER_FRAME = 4096  # depth pixels per shared frame used by the fit (a regular subsample)


@dataclass
class Sim3Fit:
    """``X_world = scale * rotation @ X_chunk + translation``, and how well it fits.

    residual_median / residual_p90: point distances after the fit, relative to the point's depth.
    inliers: fraction of points kept by the last reweighting; points: how many were used.
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray
    residual_median: float
    residual_p90: float
    inliers: float
    points: int

    @property
    def matrix(self) -> np.ndarray:
        """4x4 world-from-chunk matrix (scale folded into the upper 3x3)."""
        m = np.eye(4)
        m[:3, :3] = self.scale * self.rotation
        m[:3, 3] = self.translation
        return m

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ (self.scale * self.rotation).T + self.translation


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted least-squares similarity (Umeyama 1991): minimises sum w |s R src + t - dst|^2.

    src, dst: [N, 3]; weights: [N] >= 0, not all zero. Returns (s, R [3,3] proper rotation, t [3]).
    """
    w = weights / weights.sum()
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    U, D, Vt = np.linalg.svd(cov)
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(U) * np.linalg.det(Vt)) or 1.0])
    R = U @ flip @ Vt
    s = float(np.trace(np.diag(D) @ flip) / (w @ (xs * xs).sum(1)))
    return s, R, mu_d - s * R @ mu_s


def fit_sim3(src: np.ndarray, dst: np.ndarray, conf: np.ndarray, depth: np.ndarray, iters: int = 12) -> Sim3Fit:
    """Robust confidence-weighted Sim(3) taking ``src`` onto ``dst`` ([N, 3] corresponding points).

    conf: [N] confidence weights (> 0); depth: [N] a length scale per point (its depth in the reference
    view), so residuals are relative and far points are not all outliers. IRLS with Huber weights at
    2 robust sigmas, points beyond 3 Huber widths dropped (trimmed); the sigma is the median absolute
    relative residual (x 1.4826), re-estimated every iteration.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    conf, depth = np.asarray(conf, np.float64), np.maximum(np.asarray(depth, np.float64), 1e-12)
    robust = np.ones(len(src))
    for _ in range(iters):
        s, R, t = umeyama(src, dst, conf * robust)
        r = np.linalg.norm(src @ (s * R).T + t - dst, axis=1) / depth
        width = 2.0 * max(1.4826 * float(np.median(r)), 1e-9)
        robust = np.minimum(1.0, width / np.maximum(r, 1e-30))
        robust[r > 3 * width] = 0.0
    kept = robust > 0
    return Sim3Fit(s, R, t, float(np.median(r)), float(np.percentile(r, 90)), float(kept.mean()), len(src))


def transform(fit: Sim3Fit, extrinsics: np.ndarray, depth: np.ndarray,
              world_points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One chunk's camera-from-chunk extrinsics [S,3,4], depth [S,H,W] and world points [S,H,W,3] in the
    world of ``fit`` (float32): cameras keep their orientation relative to the scene, depths scale by s."""
    R, t = extrinsics[..., :3].astype(np.float64), extrinsics[..., 3].astype(np.float64)
    QT = fit.rotation.T
    R_new = R @ QT
    t_new = fit.scale * t - np.einsum("sij,j->si", R_new, fit.translation)
    ext = np.concatenate([R_new, t_new[..., None]], axis=-1).astype(np.float32)
    return ext, (depth * fit.scale).astype(np.float32), fit.apply(world_points.astype(np.float64)).astype(np.float32)


def _samples(H: int, W: int, mask: np.ndarray) -> np.ndarray:
    """Flat indices of a regular subsample of about POINTS_PER_FRAME pixels of an H x W frame, inside mask."""
    step = max(1, int(math.sqrt(H * W / POINTS_PER_FRAME)))
    grid = np.zeros((H, W), bool)
    grid[step // 2::step, step // 2::step] = True
    return np.flatnonzero(grid & mask)


class World:
    """The stitched arrays, filled chunk by chunk (one entry per frame of the shot).

    windowed[p]: frame p was placed from a chunk's own window (its consecutive frames), not as an anchor.
    """

    def __init__(self, n: int, H: int, W: int) -> None:
        self.placed = np.zeros(n, bool)
        self.windowed = np.zeros(n, bool)
        self.extrinsics = np.zeros((n, 3, 4), np.float32)
        self.intrinsics = np.zeros((n, 3, 3), np.float32)
        self.intrinsics_model = np.zeros((n, 3, 3), np.float32)
        self.depth = np.zeros((n, H, W), np.float32)
        self.depth_conf = np.zeros((n, H, W), np.float32)
        self.world_points = np.zeros((n, H, W, 3), np.float32)
        self.world_points_conf = np.zeros((n, H, W), np.float32)
        self.colors = np.zeros((n, H, W, 3), np.uint8)


def _unproject(depth: np.ndarray, extrinsics: np.ndarray, k: np.ndarray) -> np.ndarray:
    """One frame's depth [H, W] through camera-from-world ``extrinsics`` [3,4] and model-pixel ``k`` [3,3]: world
    points [H*W, 3] at pixel centres."""
    points = geometry.unproject_depth_map_to_point_map(depth[None], extrinsics[None], k[None], pixel_offset=0.5)
    return points.reshape(-1, 3)


def camera_points(extrinsics: np.ndarray, length: float) -> np.ndarray:
    """A camera's centre and the ends of its three axes, ``length`` long, in its world: [4, 3]."""
    R, t = extrinsics[:, :3].astype(np.float64), extrinsics[:, 3].astype(np.float64)
    return (np.vstack([np.zeros(3), length * np.eye(3)]) - t) @ R


def align(world: World, positions: Sequence[int], chunk: Reconstruction) -> Sim3Fit:
    """The Sim(3) taking ``chunk`` (frames ``positions`` of the shot) into ``world``, fitted on its frames
    already placed; identity for the first chunk.

    Per shared frame, both copies' depths are unprojected with one lens (the geometric mean of the two predicted
    focals): unprojected with different focals, the two point sets differ by a stretch across the view that no
    similarity absorbs. The frame's camera (its centre and axis ends at the frame's median depth) joins the
    points with as much weight as all of them, so the fit also lines up the overlap's cameras.
    """
    shared = [(i, p) for i, p in enumerate(positions) if world.placed[p]]
    if not shared:
        return Sim3Fit(1.0, np.eye(3), np.zeros(3), 0.0, 0.0, 1.0, 0)
    H, W = chunk.model_size
    src, dst, conf, depth = [], [], [], []
    for i, p in shared:
        keep = chunk.valid[i] & (world.depth[p] > 0) & (chunk.depth[i] > 0)
        idx = _samples(H, W, keep.reshape(H, W))
        if len(idx) == 0:
            continue
        k = chunk.intrinsics_model[i].astype(np.float64)
        k[:2, :2] *= np.sqrt(world.intrinsics_model[p, 0, 0] / k[0, 0])  # geometric-mean focal
        src.append(_unproject(chunk.depth[i], chunk.extrinsics[i], k)[idx])
        dst.append(_unproject(world.depth[p], world.extrinsics[p], k)[idx])
        c = np.minimum(chunk.depth_conf[i].reshape(-1)[idx], world.depth_conf[p].reshape(-1)[idx])
        conf.append(c)
        d = world.depth[p].reshape(-1)[idx]
        depth.append(d)
        median_chunk, median_world = float(np.median(chunk.depth[i].reshape(-1)[idx])), float(np.median(d))
        src.append(camera_points(chunk.extrinsics[i], median_chunk))
        dst.append(camera_points(world.extrinsics[p], median_world))
        conf.append(np.full(4, c.sum() / 4))
        depth.append(np.full(4, median_world))
    if not src or sum(len(x) for x in src) < 3 + 4 * len(shared):
        raise InputError("chunks share no usable depth; use a larger --overlap")
    return fit_sim3(np.concatenate(src), np.concatenate(dst), np.concatenate(conf), np.concatenate(depth))
