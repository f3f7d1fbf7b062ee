"""Whole tracks that do not fit a static scene (things that move: actors, cars), found and kept out of the solve.

Per-observation outlier rejection (``adjust.py``, 4 px) cannot see a track that moves consistently: a rigid
mover is a second, self-consistent "scene", and a bundle adjustment over both bends the cameras until each
single residual is small. Two steps keep it out:

1. **Epipolar vote** (before any solve): on pairs of frames half the shot apart, a fundamental matrix is fitted
   by RANSAC (normalised 8-point, Sampson distance); the static scene is the largest consistent set, and a
   mover's image motion does not follow its epipolar geometry (unless it moves exactly along the camera's
   own path). A track that is an outlier in most of the pairs it is seen in is a candidate mover.
2. **Residual check** (after each solve): every track's median reprojection error over *all* its observations
   is compared with the median track's; tracks far above are moving, the others (candidates included) are
   static. Solve again without the moving ones, until the set stops changing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .adjust import Adjusted
from .triangulate import triangulate

MIN_PX = 2.0  # a track is never called moving below this median error (pixels): noise, not motion
FACTOR = 4.0  # ... nor below FACTOR x the median track's median error
MAX_SHARE = 0.6  # never reject more than this share of the tracks: beyond that "static" has lost its meaning
ROUNDS = 6


@dataclass
class Movers:
    """The tracks rejected as moving.

    moving: [N] bool over the track columns; score_px: [N] each track's median reprojection error (pixels)
    in the final solve (NaN for tracks seen fewer than twice); threshold_px: the cut; rounds: solves run.
    """

    moving: np.ndarray
    score_px: np.ndarray
    threshold_px: float
    rounds: int

    def reasons(self) -> list[str]:
        """One line per rejected track, for the report's log."""
        return [f"track {i}: median error {self.score_px[i]:.1f} px > {self.threshold_px:.1f} px (moves)"
                for i in np.flatnonzero(self.moving)]


def reproject(adjusted: Adjusted, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels [S, N, 2] and camera depths [S, N] of ``points`` [N, 3] through ``adjusted``'s cameras and lens
    (COLMAP's radial model ``1 + k1 r^2 + k2 r^4`` on normalised coordinates, as ``adjust.py`` solves it)."""
    cam = np.einsum("sij,nj->sni", adjusted.extrinsics[:, :, :3], points) + adjusted.extrinsics[:, None, :, 3]
    z = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = cam[..., :2] / z[..., None]
    k1, k2 = adjusted.distortion
    r2 = np.sum(xy**2, axis=-1, keepdims=True)
    xy = xy * (1 + k1 * r2 + k2 * r2**2)
    k = adjusted.intrinsics
    u = k[:, None, 0, 0, None] * xy[..., :1] + k[:, None, 0, 2, None]
    v = k[:, None, 1, 1, None] * xy[..., 1:] + k[:, None, 1, 2, None]
    return np.concatenate([u, v], axis=-1), z


def track_scores(adjusted: Adjusted, uv: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """[N] median reprojection error (pixels) of each track over every observation in ``seen`` [S, N] (``uv``
    [S, N, 2] plate pixels), through the adjusted cameras and points (tracks the solve left out are triangulated
    through its cameras first, so a wrongly rejected track can come back); inf behind a camera, NaN when seen < 2."""
    points = adjusted.points.copy()
    out_of_solve = adjusted.seen.sum(axis=0) < 2
    points[out_of_solve] = triangulate(adjusted.intrinsics, adjusted.extrinsics, uv, seen)[0][out_of_solve]
    proj, z = reproject(adjusted, points)
    err = np.where(z > 0, np.linalg.norm(proj - uv, axis=-1), np.inf)
    err = np.where(seen, err, np.nan)
    out = np.full(seen.shape[1], np.nan)
    ok = seen.sum(axis=0) >= 2
    out[ok] = np.nanmedian(err[:, ok], axis=0)
    return out


def epipolar_candidates(uv: np.ndarray, seen: np.ndarray, pairs: int = 8, threshold_px: float = 2.0,
                        iterations: int = 300, seed: int = 0) -> np.ndarray:
    """[N] bool: tracks (``uv`` [S, N, 2] plate pixels where ``seen`` [S, N]) that are RANSAC outliers of a
    fundamental matrix in more than half the frame pairs they are seen in; pairs ``(a, a + gap)`` spread over
    the shot for gaps of a half and a quarter of it (a mover may be in view for part of the shot only)."""
    frames = uv.shape[0]
    votes = np.zeros(uv.shape[1])
    count = np.zeros(uv.shape[1])
    rng = np.random.default_rng(seed)
    for gap in sorted({frames // 2, frames // 4} - {0}):
        for a in np.unique(np.rint(np.linspace(0, frames - 1 - gap, pairs)).astype(int)):
            both = np.flatnonzero(seen[a] & seen[a + gap])
            if len(both) < 16:
                continue
            inlier = _ransac_f(uv[a, both], uv[a + gap, both], threshold_px, iterations, rng)
            votes[both] += ~inlier
            count[both] += 1
    return votes * 2 > count


def _ransac_f(x1: np.ndarray, x2: np.ndarray, threshold_px: float, iterations: int, rng) -> np.ndarray:
    """Inliers [M] of the best fundamental matrix between matched pixels x1, x2 [M, 2] (8-point samples)."""
    def normalise(x):
        c = x.mean(axis=0)
        s = np.sqrt(2) / (np.mean(np.linalg.norm(x - c, axis=1)) + 1e-12)
        t = np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1]])
        return np.c_[x, np.ones(len(x))] @ t.T, t

    h1, t1 = normalise(x1)
    h2, t2 = normalise(x2)
    rows = np.einsum("mi,mj->mij", h2, h1).reshape(len(h1), 9)  # x2^T F x1 = 0, row-major F
    samples = np.array([rng.choice(len(h1), 8, replace=False) for _ in range(iterations)])
    _, _, vt = np.linalg.svd(rows[samples])
    f = vt[:, -1].reshape(-1, 3, 3)
    u, sv, vt = np.linalg.svd(f)
    sv[:, 2] = 0  # rank 2
    f = np.einsum("kij,kj,kjl->kil", u, sv, vt)
    f = np.einsum("ji,kjl,lm->kim", t2, f, t1)  # back to pixels: T2^T F T1
    p1 = np.c_[x1, np.ones(len(x1))]
    p2 = np.c_[x2, np.ones(len(x2))]
    fx1 = np.einsum("kij,mj->kmi", f, p1)
    ftx2 = np.einsum("kji,mj->kmi", f, p2)
    num = np.einsum("mi,kmi->km", p2, fx1) ** 2
    den = fx1[..., 0] ** 2 + fx1[..., 1] ** 2 + ftx2[..., 0] ** 2 + ftx2[..., 1] ** 2
    sampson = num / np.maximum(den, 1e-300)
    inliers = sampson < threshold_px**2
    return inliers[np.argmax(inliers.sum(axis=1))]


def reject_moving(
    adjust: Callable[[np.ndarray], Adjusted], uv: np.ndarray, seen: np.ndarray, min_tracks: int = 8,
) -> tuple[Adjusted, Movers]:
    """Solve with ``adjust(seen) -> Adjusted`` (a bundle adjustment over ``uv`` [S, N, 2] plate pixels),
    rejecting whole moving tracks until the rejected set is stable (at most ``ROUNDS`` solves).

    Returns the last solve (without the moving tracks) and the ``Movers``. Keeps at least ``min_tracks``
    tracks and never rejects more than ``MAX_SHARE`` of them (the worst-scored are rejected first).
    """
    usable = seen.sum(axis=0) >= 2
    moving = epipolar_candidates(uv, seen) & usable
    if usable.sum() - moving.sum() < min_tracks:
        moving[:] = False
    adjusted = adjust(seen & ~moving[None])
    scores = track_scores(adjusted, uv, seen)
    threshold = np.inf
    rounds = 1
    while rounds < ROUNDS:
        static = usable & ~moving & np.isfinite(scores)
        if not static.any():
            break
        threshold = max(MIN_PX, FACTOR * float(np.median(scores[static])))
        candidate = usable & ~(scores <= threshold)  # NaN/inf scores of usable tracks count as moving
        limit = min(int(MAX_SHARE * usable.sum()), max(int(usable.sum()) - min_tracks, 0))
        if candidate.sum() > limit:  # keep the worst ``limit``
            order = np.argsort(-np.nan_to_num(scores, nan=np.inf, posinf=np.inf))
            candidate = np.zeros_like(candidate)
            candidate[order[:limit]] = True
        if np.array_equal(candidate, moving):
            break
        moving = candidate
        adjusted = adjust(seen & ~moving[None])
        scores = track_scores(adjusted, uv, seen)
        rounds += 1
    return adjusted, Movers(moving, scores, float(threshold), rounds)
