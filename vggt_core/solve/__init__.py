"""Camera solve: a lens model for the shot, then (optionally) bundle adjustment on VGGT's tracks.

``solve(recon, ...)`` returns a refined copy of a ``Reconstruction``: same contract (camera-from-world, OpenCV
axes, world = first camera, intrinsics in original pixels), plus ``lens`` (the solved ``Lens``: COLMAP model and
each frame's distortion), ``solve`` (the report, ``report.py``) and, with ``refine="ba"``, the sparse points with
their inlier observations. Pure numpy + pycolmap; no bpy, no torch.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..derived import derived_arrays
from ..errors import InputError
from ..plate.frame_numbers import plate_frame_numbers
from ..plate.masks import Masks, mask_observations
from ..plate.preprocess import intrinsics_to_model
from ..reconstruction import Lens, Reconstruction
from . import lens as lens_model
from . import motion as motion_model
from .adjust import DISTORTIONS, Adjusted, bundle_adjust, profile_sd
from .colmap_output import colmap_log
from .graph import write_error_graph
from .nodal import nodal_adjust
from .movers import reject_moving
from .report import make_report, summary_line
from .plate_tracks import TRACK_REFINES, cv_points, pyramid_levels, refine_points, refine_tracks
from .tracks import (TRACK_FRAMES, model_tracks, observations, observed_depth, plate_px_per_model_px, query_frames,
                     track_queries)
from .triangulate import triangulate
from .verdict import distortion_doubt, holdout, judge, validation_errors
from .zoom import zoom_test

log = logging.getLogger(__name__)

# The solve's code version, part of every solved result's cache key (``run.pipeline.cache_path``), not the network
# output's: bump it in any commit that changes what ``solve`` returns for the same input (cameras, lens, tracks
# kept, report), so a cache never serves a result of the old code; the next run re-solves from the cached network.
# 2: the report on the delivered frame numbers; tracks refined on the plate, tolerances in plate px
# 3: lens=auto's zoom call on the whole shot, then on the tracks (``zoom.py``)
# 4: the solved lens on the Reconstruction (``Reconstruction.lens``), the report's k1/k2 read from it
# 5: the verdict in plate pixels (``verdict.GOOD_RMSE_PX``), held-out RMSE within the adjustment's own limit
# 6: a shot stitched from chunks is adjusted with its camera centres held near the stitched ones (``centre_prior``)
# 7: texture judged at HD scale on plates beyond HD (``plate_tracks.texture_halvings``): 4K keeps its tracks
# 8: a free k1 beyond any lens (``verdict.MAX_PLAUSIBLE_K1``) says the lens is not pinned, not "distorted"
# 9: no centre prior for tracks refined on the plate (``centre_prior``)
VERSION = 9

REFINES = ("none", "ba")
MIN_TRACKS = 8  # fewer tracks than this cannot pin down a shot's cameras
# Tolerances in model pixels, the track head's own unit (its error does not grow with the plate), scaled to each
# plate: rejection beyond 4 model px (4.9 px on a 640-wide plate, 14.8 px at 1920), Cauchy loss scale 1 model px.
MAX_ERROR_MODEL_PX = 4.0
LOSS_SCALE_MODEL_PX = 1.0
# Tracks refined on the plate (``plate_tracks``) are sub-pixel on the plate itself (0.03 px median on the bench), so
# their tolerances are in plate pixels: a loss scale of a few of the head's model pixels would let every track the
# refinement kept at 1-3 px error pull the cameras (a rendered 1920 dolly: CG slip 0.21 px median with the model-px
# tolerances, 0.04 px with these).
MAX_ERROR_PLATE_PX = 3.0
LOSS_SCALE_PLATE_PX = 0.5
PROFILE_STEP = 0.02  # the focal profile's step (fraction), a few times the 0.5 % the verdict asks for
CENTRE_PRIOR_PATH = 0.005  # a chunked shot's centre prior, sigma as a fraction of the stitched path: about
# stitching's own error (0.6 % of the path on bench/bench_long.py's VGGT-like stand-in), so the tracks decide
# wherever they can and the stitch only where they leave the path free
TRACK_QUERIES = 1024  # query points in all when refining, split over the query frames (the tracker's cost grows with them)

MOTIONS = motion_model.MOTIONS

LENSES = lens_model.LENSES
aspect_warning = lens_model.aspect_warning
focal_drift = lens_model.focal_drift

__all__ = ["DISTORTIONS", "LENSES", "MOTIONS", "REFINES", "TRACK_FRAMES", "TRACK_QUERIES", "TRACK_REFINES", "VERSION",
           "aspect_warning", "check", "colmap_log", "cv_points", "focal_drift", "nodal_adjust", "observations",
           "pyramid_levels", "refine_points", "refine_tracks", "solve", "summary_line", "track_queries",
           "write_error_graph"]


def check(
    lens: str, refine: str, distortion: str, focal_px: float | None = None, focal_mm: float | None = None,
    sensor_width_mm: float | None = None, motion: str = "auto", sizes: Sequence[tuple[int, int]] | None = None,
) -> None:
    """Raise InputError (one line) for settings ``solve`` cannot run, before any work is done.

    sizes: the frames' original ``(W, H)`` in pixels, once they are listed; with them the checks that
    depend on the footage run too (a shared or known lens on frames of several sizes, distortion with a
    lens that resolves per frame), so they fail before the network runs rather than after.
    """
    motion_model.check(motion)
    if lens not in lens_model.LENSES:
        raise InputError(f"unknown lens model {lens!r} (use one of {', '.join(lens_model.LENSES)})")
    if refine not in REFINES:
        raise InputError(f"unknown refinement {refine!r} (use 'none' or 'ba')")
    if distortion not in DISTORTIONS:
        raise InputError(f"unknown distortion {distortion!r} (use 'none', 'k1' or 'k1k2')")
    if distortion != "none" and (refine != "ba" or lens == "per-frame"):
        raise InputError("lens distortion is solved only with --refine ba and a shared, known or zoom lens")
    if lens == "known":
        lens_model.known_focal_px(1, focal_px, focal_mm, sensor_width_mm)
    if sizes is not None:
        kind = lens_model.resolve(lens, sizes)  # a shared or known lens on frames of several sizes stops here
        if distortion != "none" and kind == "per-frame":
            raise InputError("lens distortion needs one lens for the shot, and these frames differ in size")


def solve(
    recon: Reconstruction,
    lens: str = "per-frame",
    focal_px: float | None = None,
    focal_mm: float | None = None,
    sensor_width_mm: float | None = None,
    refine: str = "none",
    distortion: str = "none",
    cancel: Callable[[], bool] | None = None,
    motion: str = "auto",
    masks: Masks | None = None,
    reject_movers: bool = True,
    frame_numbers: Sequence[int] | None = None,
) -> Reconstruction:
    """``recon`` with the lens model applied and, for ``refine="ba"``, cameras/lens/points bundle-adjusted.

    lens: ``auto``, ``per-frame``, ``shared``, ``known`` or ``zoom`` (``lens.py``); focal_px, or focal_mm with
    sensor_width_mm, for ``known``. ``auto`` on frames of one size: ``shared`` or ``zoom``, from VGGT's focal over
    the whole shot (``lens.focal_drift``) and, with ``ba`` where that is not flat, from the tracks: the one-lens solve
    adjusted again with a focal per frame must fit significantly better (``zoom.py``); a lens asked for is checked
    the same way (a reason "a zoom? try --lens zoom"). distortion: ``none``, ``k1`` or ``k1k2``, refined with
    ``ba``, one for the shot (a shared, known or zoom lens; either motion: ``nodal.py`` on a tripod, ``adjust.py``
    otherwise).
    motion (with ``ba``): ``free``, ``tripod`` (one camera centre, the first camera's; ``motion.py``) or ``auto``
    (tripod when the parallax cannot support triangulation; the report's ``motion_reason`` says why).
    ``per-frame`` without refinement returns ``recon`` itself, untouched. masks: per frame a plate-pixel
    ``[H, W]`` bool mask or None (``vggt_core.plate.masks``): observations inside never enter the adjustment.
    reject_movers: without masks, on a free-moving camera, whole tracks that do not fit a static scene (their
    residuals, or their depth against VGGT's) are rejected (``movers.py``); not on a tripod shot, whose points
    are rays with no depth of their own to score. frame_numbers: the number each frame is delivered on (the
    report's ``frame_numbers``, ``check_frames`` and reasons name frames by them); None: the plate's own
    (``vggt_core.plate.frame_numbers.plate_frame_numbers``).
    The adjustment observes the tracks refined on the plate (``recon.tracks_plate``, ``plate_tracks.refine_tracks``)
    when ``recon`` has them, with tolerances in plate pixels, else the track head's, with tolerances in its model
    pixels (``_tolerances``); the report's ``track_refine`` says which.
    """
    check(lens, refine, distortion, focal_px, focal_mm, sensor_width_mm, motion)
    t0 = time.perf_counter()
    sizes = [(f.width, f.height) for f in recon.frames]
    kind = lens_model.resolve(lens, sizes)
    lens_reason = lens_doubt = distorted = None
    test_zoom = False
    if kind in ("shared", "known", "zoom"):
        drift = lens_model.focal_drift(np.sqrt(recon.intrinsics[:, 0, 0] * recon.intrinsics[:, 1, 1]))
        if lens == "auto":
            kind = "zoom" if drift.zooms else "shared"
            lens_reason = f"auto chose {kind}: {drift}"
        elif drift.zooms and kind != "zoom":
            lens_doubt = f"{drift}: a zoom? try --lens zoom"
        # VGGT's focal decides alone only when flat or when there are no tracks; else they settle it (zoom.py)
        test_zoom = refine == "ba" and not drift.flat and (lens == "auto" or kind != "zoom")
    if kind == "per-frame" and refine == "none":
        return recon
    if distortion != "none" and kind == "per-frame":
        raise InputError("lens distortion needs one lens for the shot, and these frames differ in size")
    k = lens_model.lens_intrinsics(recon.intrinsics, sizes, kind, focal_px, focal_mm, sensor_width_mm)
    rt = recon.extrinsics.astype(np.float64)
    extra: dict = {}
    adjusted = movers = None
    skipped = None
    validation = None
    chosen = why = None
    if refine == "ba":
        if recon.tracks is None:
            raise InputError("bundle adjustment needs tracks: run with refine='ba' so the track head runs")
        uv, seen = observations(recon)
        seen = mask_observations(uv, seen, masks)
        points, ok = triangulate(k, rt, uv, seen)
        chosen, why = motion_model.resolve(motion, recon, rt, points, seen & ok[None])
        qf = query_frames(recon)
        if chosen == "tripod":  # no triangulation from zero baseline: tracks are rays from the one centre
            rt, points = motion_model.nodal_start(k, rt, uv, qf)
            seen[:, seen.sum(axis=0) < 2] = False
        else:
            seen &= ok[None]
        held = holdout(seen)  # validation tracks: measured after the adjustment, never adjusted on
        seen_held, seen = seen & held[None], seen & ~held[None]
        if seen.any(axis=0).sum() < MIN_TRACKS:
            skipped = f"bundle adjustment skipped: {int(seen.any(axis=0).sum())} usable tracks (needs {MIN_TRACKS})"
    if refine == "ba" and not skipped:
        px = plate_px_per_model_px(recon)
        limits = _tolerances(recon, px)
        if chosen == "tripod":
            def adjust(s: np.ndarray, dist: str = distortion):
                return nodal_adjust(k, rt[:, :, :3], points, uv, s, shared=kind in ("shared", "known"),
                                    refine_focal=kind != "known", distortion=dist, cancel=cancel, **limits)
        else:
            prior = centre_prior(recon)

            def adjust(s: np.ndarray, dist: str = distortion):
                done = bundle_adjust(k, rt, sizes, uv, s, points, shared=kind in ("shared", "known"),
                                     refine_focal=kind != "known", distortion=dist, square=kind == "zoom",
                                     cancel=cancel, centre_prior=prior, **limits)
                # a zoom is a continuous move: smooth the refined focal, then fit the cameras to it
                return _smoothed_zoom(done, sizes, uv, dist, cancel, limits) if kind == "zoom" else done

        def run():  # the adjustment with the lens model of the moment (``kind``, ``k``): (adjusted, movers)
            if chosen != "tripod" and reject_movers and masks is None:  # validation tracks judged, never adjusted on
                both = seen | seen_held
                return reject_moving(adjust, uv, both, px, observed_depth(recon, both), held, MIN_TRACKS)
            return adjust(seen), None

        if test_zoom and lens == "auto":  # one lens first: the zoom must fit its static tracks better
            kind, k = "shared", lens_model.lens_intrinsics(recon.intrinsics, sizes, "shared")
        adjusted, movers = run()
        if test_zoom:
            test = zoom_test(adjusted, sizes, uv, chosen == "tripod", distortion, cancel, **limits)
            if lens != "auto":
                lens_doubt = f"{test}: a zoom? try --lens zoom" if test.zooms else None
            else:
                lens_reason = f"auto chose {'zoom' if test.zooms else 'shared'}: {test}; {drift}"
                if test.zooms:
                    kind, k = "zoom", lens_model.lens_intrinsics(recon.intrinsics, sizes, "zoom")
                    adjusted, movers = run()
        if movers is not None:
            seen_held &= ~movers.moving[None]
        # with free motion the covariance can be overconfident in a curved focal/depth valley
        if chosen != "tripod" and adjusted.focal_sd is not None:
            profile = profile_sd(adjusted, sizes, uv, kind != "zoom", kind == "zoom", distortion,
                                 PROFILE_STEP, cancel, **limits)
            adjusted.focal_sd = np.maximum(adjusted.focal_sd, profile)
        skipped = _implausible(adjusted, k)
        if not skipped and distortion == "none":  # a distorted plate solved as a pinhole still fits its tracks
            distorted = distortion_doubt(adjusted, adjust(adjusted.seen, "k1"), sizes, float(np.median(px)))
        if not skipped:
            validation = validation_errors(adjusted.intrinsics, adjusted.extrinsics, adjusted.distortion, uv,
                                           seen_held, limits["max_error_px"], nodal=chosen == "tripod")
    if skipped:
        # A long model run is not thrown away for this: the lens model stands, and the report says why.
        log.warning(skipped)
        adjusted = None
        rt = recon.extrinsics.astype(np.float64)  # VGGT's cameras stand (a tripod start zeroed their centres)
    elif refine == "ba":
        keep = adjusted.seen.any(axis=0)
        obs_frame, obs_point = np.nonzero(adjusted.seen[:, keep])
        q = np.clip(np.floor(model_tracks(recon)[qf, np.arange(len(qf))]).astype(int), 0,
                    [recon.model_size[1] - 1, recon.model_size[0] - 1])  # each track's model pixel on its query frame
        if chosen == "tripod":  # points at VGGT's depth along the solved rays, around the one centre
            rt, points = motion_model.nodal_result(adjusted.extrinsics, adjusted.points,
                                                   recon.depth[qf, q[:, 1], q[:, 0]].astype(np.float64), qf)
        else:
            rt, points = _first_camera_world(adjusted.extrinsics, adjusted.points, rt, points, seen)
        k = adjusted.intrinsics
        qf, q = qf[keep], q[keep]
        extra = dict(
            sparse_points=points[keep].astype(np.float32),
            sparse_colors=recon.colors[qf, q[:, 1], q[:, 0]],
            sparse_obs=np.stack([obs_frame, obs_point], axis=1).astype(np.int32),
            sparse_uv=uv[:, keep][obs_frame, obs_point].astype(np.float32),
            moving_tracks=None if movers is None else np.flatnonzero(movers.moving).astype(np.int32),
        )
    k_model = intrinsics_to_model(k, recon.preprocess).astype(np.float32)
    rt32 = rt.astype(np.float32)
    derived = derived_arrays(recon.depth, rt32, k_model, recon.preprocess)
    solved_lens = _solved_lens(kind, adjusted, len(sizes))
    report = make_report(kind, refine, recon.intrinsics, k, adjusted, time.perf_counter() - t0, validation,
                         solved_lens)
    if skipped:
        report["skipped"] = skipped
    elif refine == "ba":
        report["moving_tracks"] = 0 if movers is None else int(movers.moving.sum())
    if chosen is not None:
        report["motion"], report["motion_reason"] = chosen, why
    if refine == "ba":
        report["track_refine"] = "none" if recon.tracks_plate is None else "plate"
    if lens_reason:
        report["lens_reason"] = lens_reason
    if kind == "zoom":
        report["focal_per_frame_px"] = [round(float(v), 3) for v in k[:, 0, 0]]
    numbers = [int(n) for n in (plate_frame_numbers(recon.frames) if frame_numbers is None else frame_numbers)]
    report["frame_numbers"] = numbers
    report["verdict"], report["reasons"], report["check_frames"] = judge(
        report, adjusted, validation, recon.extrinsics.astype(np.float64), sizes,
        uv if refine == "ba" else None, numbers, float(np.median(plate_px_per_model_px(recon))),
        report["focal_before_px"], [d for d in (lens_doubt, distorted) if d],
        float(np.median(limits["max_error_px"])) if adjusted is not None else None)
    timings = {**recon.timings, "solve": report["seconds"]}
    return replace(recon, extrinsics=rt32, intrinsics=k.astype(np.float32), intrinsics_model=k_model,
                   timings=timings, solve=report, lens=solved_lens, **derived, **extra)


def _solved_lens(kind: str, adjusted: Adjusted | None, frames: int) -> Lens:
    """The ``Lens`` of a solve with lens model ``kind`` (``lens.resolve``'s, after auto) on ``frames`` frames: the
    adjustment's distortion model and values when it solved one (one distortion for the shot, a zoom's included:
    the adjustment holds the frames' median, ``_smoothed_zoom``), else a pinhole; one camera for a shared or known
    lens, one per frame otherwise."""
    model = adjusted.camera_model if adjusted is not None else "PINHOLE"
    if model not in ("SIMPLE_RADIAL", "RADIAL"):  # SIMPLE_PINHOLE is a PINHOLE with fx == fy
        return Lens.fixed("PINHOLE", frames, shared=kind in ("shared", "known"))
    k1, k2 = adjusted.distortion
    return Lens.fixed(model, frames, k1, k2 if model == "RADIAL" else 0.0, shared=kind in ("shared", "known"))


def centre_prior(recon: Reconstruction) -> tuple[np.ndarray, float] | None:
    """For a shot stitched from chunks (``recon.chunks``, more than one): its camera centres ``[S, 3]`` and the
    prior's sigma, ``CENTRE_PRIOR_PATH`` of their path's length (``adjust.bundle_adjust``'s ``centre_prior``:
    why); None for a single run, whose tracks span the whole shot, and for tracks refined on the plate: sub-pixel
    tracks tied across the seams hold the path better than the stitch (a rendered 96-frame 1920 dolly in 4 chunks,
    bench/results/plates_chunked_cpu.md: CG slip 0.87 / 1.53 px median / p95 without the prior, 11.7 / 20.5 px with
    it, the stitch itself 80 / 175 px off); the prior serves the head's model-resolution tracks (the VGGT-like
    stand-in of bench_long.py: 0.26 % of the path against 0.60 % for stitching at 160 frames)."""
    if not recon.chunks or len(recon.chunks) < 2 or recon.tracks_plate is not None:
        return None
    rt = recon.extrinsics.astype(np.float64)
    centres = -np.einsum("sji,sj->si", rt[:, :, :3], rt[:, :, 3])
    return centres, CENTRE_PRIOR_PATH * float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum())


def _tolerances(recon: Reconstruction, px: np.ndarray) -> dict:
    """The adjustment's outlier limit per frame ``max_error_px [S]`` and Cauchy ``loss_scale_px``, in plate pixels:
    the head's tolerances in model pixels scaled to each plate (``px [S]`` plate px per model px), or the plate's own
    for tracks refined on it."""
    if recon.tracks_plate is not None:
        return dict(max_error_px=np.full(len(px), MAX_ERROR_PLATE_PX), loss_scale_px=LOSS_SCALE_PLATE_PX)
    return dict(max_error_px=MAX_ERROR_MODEL_PX * px, loss_scale_px=LOSS_SCALE_MODEL_PX * float(np.median(px)))


def _smoothed_zoom(adjusted, sizes, uv, distortion: str, cancel, limits: dict):
    """The zoom's refined per-frame focal smoothed robustly (``lens.smooth_focal``: a running median keeps a snap
    zoom's step), then cameras and points adjusted again with that focal (and the distortion, the median of the
    frames' own) held: the frame-to-frame focal jumps a free per-frame focal takes on (trading focal for depth on
    each frame) are removed, and the shot gets one distortion."""
    k = adjusted.intrinsics.copy()
    f = lens_model.smooth_focal(k[:, 0, 0])
    k[:, 0, 0] = k[:, 1, 1] = f
    again = bundle_adjust(k, adjusted.extrinsics, sizes, uv, adjusted.seen, adjusted.points, shared=False,
                          refine_focal=False, square=True, distortion=distortion, dist=adjusted.distortion,
                          cancel=cancel, **limits)
    again.rejected += adjusted.rejected
    again.focal_sd = adjusted.focal_sd  # the held pass pins nothing: the free pass says how well tracks fix the focal
    return again


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
