"""Camera solve: a lens model for the shot, then (optionally) bundle adjustment on VGGT's tracks.

``solve(recon, ...)`` returns a refined copy of a ``Reconstruction``: same contract (camera-from-world, OpenCV
axes, world = first camera, intrinsics in original pixels), plus ``solve`` (the report, ``report.py``) and, with
``refine="ba"``, the sparse points with their inlier observations. Pure numpy + pycolmap; no bpy, no torch.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .. import cache
from ..errors import InputError
from ..masks import Masks, mask_observations
from ..preprocess import intrinsics_to_model
from ..reconstruction import Reconstruction
from . import lens as lens_model
from .adjust import DISTORTIONS, bundle_adjust
from .movers import reject_moving
from .report import make_report
from .tracks import TRACK_FRAMES, observations, query_frames, track_queries
from .triangulate import triangulate

log = logging.getLogger(__name__)

REFINES = ("none", "ba")
MIN_TRACKS = 8  # fewer tracks than this cannot pin down a shot's cameras
TRACK_QUERIES = 1024  # query points in all when refining, split over the query frames (the tracker's cost grows with them)

__all__ = ["DISTORTIONS", "REFINES", "TRACK_FRAMES", "TRACK_QUERIES", "check", "solve", "track_queries"]


def check(
    lens: str, refine: str, distortion: str, focal_px: float | None = None, focal_mm: float | None = None,
    sensor_width_mm: float | None = None,
) -> None:
    """Raise InputError (one line) for settings ``solve`` cannot run, before any work is done."""
    if lens not in lens_model.LENSES:
        raise InputError(f"unknown lens model {lens!r} (use one of {', '.join(lens_model.LENSES)})")
    if refine not in REFINES:
        raise InputError(f"unknown refinement {refine!r} (use 'none' or 'ba')")
    if distortion not in DISTORTIONS:
        raise InputError(f"unknown distortion {distortion!r} (use 'none', 'k1' or 'k1k2')")
    if distortion != "none" and (refine != "ba" or lens == "per-frame"):
        raise InputError("lens distortion is solved only with --refine ba and a shared or known lens")
    if lens == "known":
        lens_model.known_focal_px(1, focal_px, focal_mm, sensor_width_mm)


def solve(
    recon: Reconstruction,
    lens: str = "per-frame",
    focal_px: float | None = None,
    focal_mm: float | None = None,
    sensor_width_mm: float | None = None,
    refine: str = "none",
    distortion: str = "none",
    cancel: Callable[[], bool] | None = None,
    masks: Masks | None = None,
    reject_movers: bool = True,
) -> Reconstruction:
    """``recon`` with the lens model applied and, for ``refine="ba"``, cameras/lens/points bundle-adjusted.

    lens: ``auto``, ``per-frame``, ``shared`` or ``known`` (``lens.py``); focal_px, or focal_mm with
    sensor_width_mm, for ``known``. distortion: ``none``, ``k1`` or ``k1k2`` (refined with ``ba``, shared lens).
    ``per-frame`` without refinement returns ``recon`` itself, untouched. masks: per frame a plate-pixel
    ``[H, W]`` bool mask or None (``vggt_core.masks``): observations inside never enter the adjustment.
    reject_movers: without masks, whole tracks that do not fit a static scene are rejected (``movers.py``).
    """
    check(lens, refine, distortion, focal_px, focal_mm, sensor_width_mm)
    t0 = time.perf_counter()
    sizes = [(f.width, f.height) for f in recon.frames]
    kind = lens_model.resolve(lens, sizes)
    if kind == "per-frame" and refine == "none":
        return recon
    if distortion != "none" and kind == "per-frame":
        raise InputError("lens distortion needs one lens for the shot, and these frames differ in size")
    k = lens_model.lens_intrinsics(recon.intrinsics, sizes, kind, focal_px, focal_mm, sensor_width_mm)
    rt = recon.extrinsics.astype(np.float64)
    extra: dict = {}
    adjusted = movers = None
    skipped = None
    if refine == "ba":
        if recon.tracks is None:
            raise InputError("bundle adjustment needs tracks: run with refine='ba' so the track head runs")
        uv, seen = observations(recon)
        seen = mask_observations(uv, seen, masks)
        points, ok = triangulate(k, rt, uv, seen)
        seen &= ok[None]
        if seen.any(axis=0).sum() < MIN_TRACKS:
            skipped = f"bundle adjustment skipped: {int(seen.any(axis=0).sum())} usable tracks (needs {MIN_TRACKS})"
    if refine == "ba" and not skipped:
        adjust = lambda s: bundle_adjust(k, rt, sizes, uv, s, points, shared=kind != "per-frame",  # noqa: E731
                                         refine_focal=kind != "known", distortion=distortion, cancel=cancel)
        adjusted, movers = reject_moving(adjust, uv, seen, MIN_TRACKS) if reject_movers and masks is None else (
            adjust(seen), None)
        skipped = _implausible(adjusted, k)
    if skipped:
        # A long model run is not thrown away for this: the lens model stands, and the report says why.
        log.warning(skipped)
        adjusted = None
    elif refine == "ba":
        k, rt, points = adjusted.intrinsics, *_first_camera_world(adjusted.extrinsics, adjusted.points, rt, points, seen)
        keep = adjusted.seen.any(axis=0)
        obs_frame, obs_point = np.nonzero(adjusted.seen[:, keep])
        qf = query_frames(recon)[keep]
        q = np.clip(np.floor(recon.tracks[qf, np.nonzero(keep)[0]]).astype(int), 0,
                    [recon.model_size[1] - 1, recon.model_size[0] - 1])
        extra = dict(
            sparse_points=points[keep].astype(np.float32),
            sparse_colors=recon.colors[qf, q[:, 1], q[:, 0]],
            sparse_obs=np.stack([obs_frame, obs_point], axis=1).astype(np.int32),
            sparse_uv=uv[:, keep][obs_frame, obs_point].astype(np.float32),
            moving_tracks=None if movers is None else np.flatnonzero(movers.moving).astype(np.int32),
        )
    k_model = intrinsics_to_model(k, recon.preprocess).astype(np.float32)
    rt32 = rt.astype(np.float32)
    derived = cache.derived_arrays(recon.depth, rt32, k_model, recon.preprocess)
    report = make_report(kind, refine, recon.intrinsics, k, adjusted, time.perf_counter() - t0)
    if skipped:
        report["skipped"] = skipped
    elif refine == "ba":
        report["moving_tracks"] = 0 if movers is None else int(movers.moving.sum())
    timings = {**recon.timings, "solve": report["seconds"]}
    return replace(recon, extrinsics=rt32, intrinsics=k.astype(np.float32), intrinsics_model=k_model,
                   timings=timings, solve=report, **derived, **extra)


def _implausible(adjusted, k_start: np.ndarray) -> str | None:
    """Why a bundle adjustment result is not to be trusted (too few tracks left, focal moved more than 2x),
    or None."""
    left = int(adjusted.seen.any(axis=0).sum())
    if left < MIN_TRACKS:
        return f"bundle adjustment rejected: {left} tracks left after outlier rejection (needs {MIN_TRACKS})"
    ratio = np.median(adjusted.intrinsics[:, 0, 0] / k_start[:, 0, 0])
    if not 0.5 <= ratio <= 2.0:
        return f"bundle adjustment rejected: it moved the focal length {ratio:.2f}x (the tracks do not fit one scene)"
    return None


def _first_camera_world(
    rt: np.ndarray, points: np.ndarray, rt_start: np.ndarray, points_start: np.ndarray, seen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Express the adjusted cameras [S,3,4] and points [N,3] in the contract's world again: the first camera's
    frame, at the starting scale (median distance of the tracked points from the first camera), since bundle
    adjustment fixes the gauge its own way."""
    r0, t0 = rt[0, :, :3], rt[0, :, 3]
    pts = points @ r0.T + t0  # first camera's frame
    used = seen.sum(axis=0) >= 2
    c0 = -rt_start[0, :, :3].T @ rt_start[0, :, 3]
    scale = np.median(np.linalg.norm(points_start[used] - c0, axis=1)) / np.median(np.linalg.norm(pts[used], axis=1))
    out = np.empty_like(rt)
    out[:, :, :3] = rt[:, :, :3] @ r0.T
    out[:, :, 3] = (rt[:, :, 3] - out[:, :, :3] @ t0) * scale
    return out, pts * scale
