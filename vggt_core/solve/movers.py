"""Whole tracks that do not fit a static scene (things that move: actors, cars), found and kept out of the solve.

Per-observation outlier rejection (``adjust.py``, 4 model px) cannot see a track that moves consistently: a rigid
mover is a second, self-consistent "scene", and a bundle adjustment over both bends the cameras until each
single residual is small. After each solve (the first one over every track), two tests score every track:

1. **Residual**: its median reprojection error over *all* its observations (model pixels), against the static
   tracks' median. It sees a mover whose image motion breaks the static scene's epipolar geometry.
2. **Depth against VGGT's**: the depth of its solved point in each camera over VGGT's depth map at the
   observation. VGGT sees a mover where it is; a mover moving along (or against) the camera's path follows the
   static epipolar geometry, so no residual shows it, but it triangulates at another depth than VGGT's, or at
   one that drifts along the shot. Static tracks keep one ratio (the two scales) up to noise.

A track far above the static tracks' spread in either is moving (cuts relative to the static tracks' median
score, so nothing depends on one plate size); the next solve is without the moving ones (a wrongly rejected
track is scored again through the new cameras and comes back), until the set settles. The static scene is the
larger part: a solve most tracks do not fit followed a mover, and the next solve takes the tracks it did not
fit. No epipolar vote seeds the first solve: a mover parallel to the camera's path shares the static epipolar
geometry, so a vote flagged static tracks and anchored that solve on the mover. On a tripod shot this does not
run (``solve``): its points are rays placed at VGGT's depth, with no triangulated depth of their own to score.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .adjust import Adjusted
from .triangulate import triangulate
from .verdict import project

MIN_MODEL_PX = 0.5  # a track is never called moving below this median error (model px; 1.85 px on a 1920 plate)
FACTOR = 4.0  # ... nor below FACTOR x the median static track's median error
DEPTH_FACTOR = 3.0  # a track's depth disagrees when its score is above DEPTH_FACTOR x the median static track's
DEPTH_VIEWS = 3  # tracks seen fewer times have no depth to compare: two rays and a median of two ratios
SETTLED = 0.01  # the rejected set has settled when a round would change at most this share of the tracks
ROUNDS = 6


@dataclass
class Movers:
    """The tracks rejected as moving.

    moving: [N] bool over the track columns; score_px: [N] each track's median reprojection error (model
    pixels) in the final solve (NaN for tracks seen fewer than twice); threshold_px: [N] its cut (model pixels);
    depth_score: [N] each track's depth disagreement with VGGT (``depth_scores``, log-ratio units; NaN where
    not measured); depth_threshold: [N] its cut (inf without depth); rounds: solves run.
    """

    moving: np.ndarray
    score_px: np.ndarray
    threshold_px: np.ndarray
    depth_score: np.ndarray
    depth_threshold: np.ndarray
    rounds: int

    def reasons(self) -> list[str]:
        """One line per rejected track, for the report's log."""
        out = []
        for i in np.flatnonzero(self.moving):
            if self.depth_score[i] > self.depth_threshold[i]:
                out.append(f"track {i}: its depth strays from VGGT's by {np.expm1(self.depth_score[i]):.0%} "
                           f"> {np.expm1(self.depth_threshold[i]):.0%} (moves)")
            else:
                out.append(f"track {i}: median error {self.score_px[i]:.1f} > {self.threshold_px[i]:.1f} model px "
                           "(moves)")
        return out


def reproject(adjusted: Adjusted, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels [S, N, 2] and camera depths [S, N] of ``points`` [N, 3] through ``adjusted``'s cameras and lens
    (``verdict.project``: COLMAP's radial model, as ``adjust.py`` solves it)."""
    return project(adjusted.intrinsics, adjusted.extrinsics, adjusted.distortion, points)


def solved_points(adjusted: Adjusted, uv: np.ndarray, seen: np.ndarray, px: np.ndarray) -> np.ndarray:
    """[N, 3] every track's point in ``adjusted``: the adjusted point, or for tracks the solve left out, the
    point triangulated through its cameras from ``uv`` [S, N, 2] where ``seen`` [S, N] (so a wrongly rejected
    track can come back), again without the observations far off that first point (over FACTOR x the
    track's median error, model px; ``px`` [S] plate px per model px) as the adjustment drops its outliers:
    one gross outlier would pull the linear point off and make a static track look like a mover."""
    points = adjusted.points.copy()
    cols = np.flatnonzero(adjusted.seen.sum(axis=0) < 2)
    if not len(cols):
        return points
    k, rt, uv, seen = adjusted.intrinsics, adjusted.extrinsics, uv[:, cols], seen[:, cols]
    first = triangulate(k, rt, uv, seen)[0]
    proj, _ = reproject(adjusted, first)
    err = np.where(seen, np.linalg.norm(proj - uv, axis=-1) / px[:, None], np.nan)
    keep = seen & (err <= np.maximum(MIN_MODEL_PX, FACTOR * _nanmedian(err, axis=0)))
    again, ok = triangulate(k, rt, uv, keep)
    points[cols] = np.where(ok[:, None], again, first)
    return points


def track_scores(proj: np.ndarray, z: np.ndarray, uv: np.ndarray, seen: np.ndarray, px: np.ndarray) -> np.ndarray:
    """[N] median reprojection error (model pixels) of each track over every observation in ``seen`` [S, N]:
    ``proj`` [S, N, 2] and ``z`` [S, N] its points' reprojections and depths (``reproject``), ``uv`` [S, N, 2]
    the plate pixels, ``px`` [S] plate pixels per model pixel; inf behind a camera, NaN when seen < 2."""
    err = np.where(z > 0, np.linalg.norm(proj - uv, axis=-1) / px[:, None], np.inf)
    err = np.where(seen, err, np.nan)
    out = np.full(seen.shape[1], np.nan)
    ok = seen.sum(axis=0) >= 2
    out[ok] = np.nanmedian(err[:, ok], axis=0)
    return out


def depth_scores(z: np.ndarray, depth: np.ndarray, seen: np.ndarray, static: np.ndarray) -> np.ndarray:
    """[N] how far each track's solved depth strays from VGGT's depth at its observations (log-ratio units:
    0.1 is about 10 %), NaN where fewer than ``DEPTH_VIEWS`` observations have both.

    z [S, N]: the camera depth of each track's solved point (``reproject``; any scale), depth [S, N]: VGGT's
    depth at each observation (NaN where none), seen [S, N], static [N]: the tracks taken as static so far.
    The log-ratio ``r = log z - log depth`` of a static track is one constant (the two scales) up to noise; a
    mover's is not: a mover along the camera's path fits the static epipolar geometry, but only as a point at
    another depth (a constant offset), and anything else drifts along the shot. The shot's level is the
    midpoint of the shortest half of the static tracks' median ratios (a mode: a mover filling 40 % of the
    tracks does not pull it, as it would a median), each frame's level the static tracks' median ratio about
    their own level (VGGT's scale jitter per frame); a track's score is its median absolute ratio about both.
    """
    ok = seen & (z > 0) & (depth > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(ok, np.log(z) - np.log(depth), np.nan)
    measured = ok.sum(axis=0) >= DEPTH_VIEWS
    out = np.full(seen.shape[1], np.nan)
    ref = static & measured
    if not ref.any():
        return out
    level = _nanmedian(r, axis=0)
    frame = np.nan_to_num(_nanmedian(np.where(ref, r - level, np.nan), axis=1))
    dev = r - _shortest_half_mid(level[ref]) - frame[:, None]
    out[measured] = _nanmedian(np.abs(dev[:, measured]), axis=0)
    return out


def _group_median(score: np.ndarray, static: np.ndarray, held: np.ndarray) -> np.ndarray:
    """[N] for each track the median ``score`` of the static tracks of its group, the validation tracks
    (``held``) or the adjusted ones (inf where none is measured). Validation tracks are measured against each
    other: a solve that fits its own tracks better than the scene makes all of them worse, and that is for the
    validation to show, not for this to reject."""
    out = np.full(len(score), np.inf)
    for group in (held, ~held):
        ref = static & group & np.isfinite(score)
        if ref.any():
            out[group] = np.median(score[ref])
    return out


def _nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmedian``, NaN for all-NaN slices without the warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, axis=axis)


def _shortest_half_mid(x: np.ndarray) -> float:
    """The midpoint of the shortest interval holding half of ``x`` [M] (a robust mode, 50 % breakdown)."""
    x = np.sort(x)
    h = (len(x) + 1) // 2
    i = int(np.argmin(x[h - 1:] - x[:len(x) - h + 1]))
    return float(x[i] + x[i + h - 1]) / 2


def reject_moving(
    adjust: Callable[[np.ndarray], Adjusted], uv: np.ndarray, seen: np.ndarray, px: np.ndarray,
    depth: np.ndarray | None = None, held: np.ndarray | None = None, min_tracks: int = 8,
) -> tuple[Adjusted, Movers]:
    """Solve with ``adjust(seen) -> Adjusted`` (a bundle adjustment over ``uv`` [S, N, 2] plate pixels where
    ``seen`` [S, N]), rejecting whole moving tracks until the rejected set settles (at most ``ROUNDS`` solves).

    px: [S] plate pixels per model pixel (every tolerance here is in model pixels, the track head's unit);
    depth: [S, N] VGGT's depth at each observation (NaN where none), or None for no depth test; held: [N] bool,
    tracks never adjusted on (the validation tracks), judged against each other (``_group_median``). The first
    solve takes every track; then a track is moving when its residual (``track_scores``) or its depth
    disagreement (``depth_scores``) is over ``FACTOR`` / ``DEPTH_FACTOR`` times the static tracks' median in
    the current solve, and the next solve is without the moving ones. When most tracks do not fit a solve, it
    followed a mover (a rigid mover is a scene of its own): the next solve takes those tracks, and the ones that
    fitted are the moving ones. Returns the last solve (without the moving tracks) and the ``Movers``; the
    ``min_tracks`` best adjusted tracks always stay.
    """
    usable = seen.sum(axis=0) >= 2
    px = np.asarray(px, np.float64)
    if depth is None:
        depth = np.full(seen.shape, np.nan)
    if held is None:
        held = np.zeros_like(usable)
    moving = np.zeros_like(usable)
    adjusted = adjust(seen & ~held[None])
    rounds, settled = 1, False
    cuts = (np.full(len(usable), np.inf),) * 2
    while True:
        proj, z = reproject(adjusted, solved_points(adjusted, uv, seen, px))
        residual = track_scores(proj, z, uv, seen, px)
        disagree = depth_scores(z, depth, seen, usable & ~moving)
        static = usable & ~moving & np.isfinite(residual)
        if settled or rounds >= ROUNDS or not static.any():
            break
        cuts = (np.maximum(MIN_MODEL_PX, FACTOR * _group_median(residual, static, held)),
                DEPTH_FACTOR * _group_median(disagree, static, held))
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # NaN residual (seen < 2): not usable
            badness = np.fmax(np.nan_to_num(residual, nan=np.inf) / cuts[0], disagree / cuts[1])
        candidate = usable & (badness > 1)
        if 2 * candidate.sum() > usable.sum():  # most tracks do not fit: the solve followed a mover, solve the rest
            candidate = usable & ~candidate
        if np.sum(usable & ~held & ~candidate) < min_tracks:  # the best ``min_tracks`` stay
            candidate[np.argsort(np.where(usable & ~held, badness, np.inf))[:min_tracks]] = False
        if np.array_equal(candidate, moving):
            break
        settled = np.sum(candidate != moving) <= SETTLED * usable.sum()  # then one last solve, scored for the report
        moving = candidate
        adjusted = adjust(seen & ~(moving | held)[None])
        rounds += 1
    return adjusted, Movers(moving, residual, cuts[0], disagree, cuts[1], rounds)
