"""Held-out validation tracks and the solve's verdict (``good`` | ``check`` | ``failed``) with one-line reasons.

Why held-out tracks: a degenerate solve (free points on a shot without parallax, a wrong lens model) lets the
adjuster bend cameras and points until its own tracks fit, so its own reprojection error says little. Tracks it
never saw, triangulated afterwards through the solved cameras and lens, fit only when the cameras are right.
All pixel numbers are original plate pixels (continuous, centres at ``+0.5``). ``good`` is in plate pixels: the
solve's own and the held-out tracks' RMSE both at most ``GOOD_RMSE_PX`` (the pros' rule: Fusion's manual asks for a
solve error below 1 px on HD; Blender users read 0.3 px as very good; a CG element then slips under a pixel). The
other tolerances are given in model pixels and scaled with ``px`` (plate pixels per model pixel,
``tracks.plate_px_per_model_px``): they judge the network's tracks, whose error grows with the plate.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .triangulate import triangulate

HOLDOUT_EVERY = 10  # one track in ten (with >= 3 observations) is kept out of the adjustment
MIN_FRAME_OBS = 8  # fewer inlier observations than this leave a frame's camera loosely pinned
MIN_SPREAD = 0.25  # inliers spanning less than this share of the frame (both axes) pin rotation badly
MAX_MOVE_DEG = 10.0  # the adjuster turning a camera more than this off VGGT's prediction (a few degrees off) is news
MIN_PARALLAX_DEG = 1.0  # median triangulation angle below this: depths are not measured (a nodal shot?)
MAX_FOCAL_SD = 0.5  # percent: the focal's standard deviation beyond which the tracks do not pin the lens
VALIDATION_RATIO = 2.0  # held-out error above this times the solve's own (plus 0.25 model px) fails to generalise
MAX_CORNER_SHIFT_MODEL_PX = 2.0  # a k1 moving the plate's corners more than this is a lens to solve, not noise
MAX_MOVING_SHARE = 0.2  # more of the tracks than this rejected as moving: the static scene the solve rests on is thin
MAX_PLAUSIBLE_K1 = 0.3  # a free k1 beyond this is no lens the radial model serves, but the focal trading against depth
GOOD_RMSE_PX = 1.0  # plate px: the solve's and the held-out tracks' RMSE above this is a CG element that slips


def distortion_doubt(pinhole: Any, probe: Any, sizes: Sequence[tuple[int, int]], px: float) -> str | None:
    """One line when a pinhole solve's plate looks distorted, else None. ``probe``: the same inlier tracks adjusted
    with a free k1 (``adjust.Adjusted`` both). A distorted plate solved as a pinhole still fits its tracks to a
    fraction of a pixel (the cameras bend instead), so the fit says little; the probe's k1 does: when it moves the
    plate's farthest corner more than ``MAX_CORNER_SHIFT_MODEL_PX`` model pixels (``px`` plate pixels each) and fits
    at least as well, the lens is distorted, unless that k1 is beyond ``MAX_PLAUSIBLE_K1``: then it says the tracks do
    not pin the lens. sizes: (W, H) per frame (the first is used)."""
    k1 = float(probe.distortion[0])
    k = np.median(probe.intrinsics, axis=0)
    w, h = sizes[0]
    corners = np.array([[0.0, 0.0], [w, 0.0], [0.0, h], [w, h]]) - k[:2, 2]
    r2 = (corners[:, 0] / k[0, 0]) ** 2 + (corners[:, 1] / k[1, 1]) ** 2
    shift = float(np.max(abs(k1) * r2 * np.hypot(corners[:, 0], corners[:, 1])))
    if shift <= MAX_CORNER_SHIFT_MODEL_PX * px or _rmse(probe) > _rmse(pinhole):
        return None
    if abs(k1) > MAX_PLAUSIBLE_K1:  # a rendered push-in's free k1 took +0.56 with its focal 20 % off
        return (f"the tracks do not pin the lens: a free k1 takes {k1:+.3f} (the plate's corners {shift:.0f} px, "
                "beyond any lens the radial model serves) and fits as well, so the focal trades against depth on "
                "this shot; give the focal (--lens known) or track a shot with more parallax")
    return (f"the plate looks distorted: a free k1 ({k1:+.4f}) moves its corners {shift:.1f} px and fits its tracks at "
            f"{_rmse(probe):.2f} px against {_rmse(pinhole):.2f} px; solve with --distortion k1")


def _rmse(adjusted: Any) -> float:
    """RMS reprojection error (plate px) of an adjustment's inlier observations."""
    return float(np.sqrt(np.nanmean(adjusted.errors[adjusted.seen] ** 2)))


def holdout(seen: np.ndarray) -> np.ndarray:
    """``[N]`` bool: the validation tracks, every ``HOLDOUT_EVERY``-th track (offset 5, deterministic) among
    those seen at least 3 times, so each still triangulates after leaving one view aside."""
    idx = np.arange(seen.shape[1])
    return (seen.sum(axis=0) >= 3) & (idx % HOLDOUT_EVERY == HOLDOUT_EVERY // 2)


def project(k: np.ndarray, rt: np.ndarray, dist: Sequence[float], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``[S, N, 2]`` and depths ``[S, N]`` of world ``points [N, 3]`` through cameras ``k [S,3,3]``,
    ``rt [S,3,4]`` and COLMAP's radial distortion ``1 + k1 r^2 + k2 r^4`` on normalised coordinates."""
    cam = np.einsum("sij,nj->sni", rt[:, :, :3], points) + rt[:, None, :, 3]
    z = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a point on a camera's plane: inf/NaN pixels
        xy = cam[..., :2] / z[..., None]
        r2 = np.sum(xy**2, axis=-1, keepdims=True)
        xy = xy * (1 + dist[0] * r2 + dist[1] * r2**2)
    uv = np.stack([k[:, None, 0, 0] * xy[..., 0] + k[:, None, 0, 2], k[:, None, 1, 1] * xy[..., 1] + k[:, None, 1, 2]], -1)
    return uv, z


def _undistort(k: np.ndarray, dist: Sequence[float], uv: np.ndarray) -> np.ndarray:
    """Observed pixels ``[S, N, 2]`` -> the pinhole pixels they come from (fixed-point inversion of the radial
    model, exact to well under a millipixel for the mild distortion a solve accepts)."""
    if not any(dist):
        return uv
    f, c = np.stack([k[:, 0, 0], k[:, 1, 1]], -1)[:, None], k[:, None, :2, 2]
    d = (uv - c) / f
    x = d.copy()
    for _ in range(20):
        r2 = np.sum(x**2, axis=-1, keepdims=True)
        x = d / (1 + dist[0] * r2 + dist[1] * r2**2)
    return x * f + c


def _directions(k: np.ndarray, rt: np.ndarray, uv: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tripod "triangulation": unit world directions ``[N, 3]`` (and ``ok [N]``) of tracks seen from one centre, the
    linear least-squares ray through all their observations (the DLT without its translation column)."""
    proj = np.asarray(k, np.float64) @ np.asarray(rt, np.float64)[:, :, :3]  # [S,3,3]
    w = seen.astype(np.float64).T[:, :, None]
    rows_u = w * (uv[..., 0].T[:, :, None] * proj[None, :, 2] - proj[None, :, 0])
    rows_v = w * (uv[..., 1].T[:, :, None] * proj[None, :, 2] - proj[None, :, 1])
    a = np.concatenate([rows_u, rows_v], axis=1)
    a /= np.linalg.norm(a, axis=2, keepdims=True) + 1e-12
    d = np.linalg.svd(a, full_matrices=False)[2][:, -1]
    first = np.argmax(seen, axis=0)
    z = np.einsum("nj,nj->n", rt[first, 2, :3], d)
    d *= np.where(z < 0, -1.0, 1.0)[:, None]  # in front of the cameras
    return d, seen.sum(axis=0) >= 2


def validation_errors(
    k: np.ndarray, rt: np.ndarray, dist: Sequence[float], uv: np.ndarray, seen: np.ndarray,
    max_error_px: float | np.ndarray, rounds: int = 3, nodal: bool = False,
) -> np.ndarray:
    """``[S, N]`` reprojection errors (plate px, NaN where unseen) of tracks ``uv [S,N,2]``/``seen [S,N]`` that
    the adjuster never saw, each triangulated through the solved cameras and lens (inf behind a camera).

    Like the adjuster, each round re-triangulates from the observations within ``max_error_px`` (scalar or
    ``[S]``) of the last, so a track's own outliers do not drag its point; every observation's error is
    reported, the rejected ones included. nodal: the cameras share one centre (tripod), so tracks are rays."""
    limit = np.broadcast_to(np.asarray(max_error_px, np.float64).reshape(-1, 1), (len(k), 1))
    rt = np.asarray(rt, np.float64).copy()
    if not nodal:  # the DLT is not invariant to the gauge: centre the cameras, unit spread (projections unchanged)
        c = np.einsum("sji,sj->si", rt[:, :, :3], -rt[:, :, 3])
        mean = c.mean(axis=0)
        spread = float(np.sqrt(np.mean(np.sum((c - mean) ** 2, axis=1)))) or 1.0
        rt[:, :, 3] = (rt[:, :, 3] + rt[:, :, :3] @ mean) / spread
    undistorted = _undistort(k, dist, uv)
    use = seen.copy()
    for _ in range(rounds):
        if nodal:
            dirs, ok = _directions(k, rt, undistorted, use)
            points = dirs * 1e6 + np.einsum("sji,sj->si", rt[:1, :, :3], -rt[:1, :, 3])
        else:
            points, ok = triangulate(k, rt, undistorted, use)
        proj, z = project(k, rt, dist, points)
        err = np.where(z > 0, np.linalg.norm(proj - uv, axis=-1), np.inf)
        err[:, ~ok] = np.inf
        inliers = seen & (err <= limit)
        if np.array_equal(inliers, use):
            break
        use = inliers
    return np.where(seen, err, np.nan)


def _rotation_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    rel = a[:, :, :3] @ np.transpose(b[:, :, :3], (0, 2, 1))
    return np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))


def parallax_deg(rt: np.ndarray, points: np.ndarray, seen: np.ndarray) -> float:
    """Median over tracks of the angle (degrees) their point subtends between the first and last camera centre
    that see it: the triangulation angle. Near 0 the depths along the rays are not measured."""
    centres = np.einsum("sji,sj->si", rt[:, :, :3], -rt[:, :, 3])
    used = np.flatnonzero(seen.sum(axis=0) >= 2)
    if not len(used):
        return 0.0
    first = np.argmax(seen[:, used], axis=0)
    last = seen.shape[0] - 1 - np.argmax(seen[::-1, used], axis=0)
    a, b = points[used] - centres[first], points[used] - centres[last]
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return float(np.degrees(np.median(np.arccos(np.clip(cos, -1, 1)))))


def _frames(numbers: Sequence[int], picked: np.ndarray) -> str:
    listed = [str(numbers[i]) for i in np.flatnonzero(picked)]
    return ", ".join(listed[:8]) + (f" and {len(listed) - 8} more" if len(listed) > 8 else "")


PREVIEW_REASON = ("not solved: the network's cameras as predicted (a preview); solve them (--refine ba, the "
                  "default; panel Refine) for a verdict on this plate")


def judge(
    report: dict[str, Any], adjusted: Any, validation: np.ndarray | None, rt_start: np.ndarray, sizes: Sequence[tuple[int, int]],
    uv: np.ndarray, frame_numbers: Sequence[int], px: float, focal_start_px: float, lens_doubts: Sequence[str] = (),
    limit_px: float | None = None,
) -> tuple[str, list[str], list[int]]:
    """``(verdict, reasons, check_frames)`` for a solve's report: ``preview`` without an adjustment (the network's
    cameras as predicted: never ``good``), ``failed`` when the adjustment was skipped or
    rejected, ``check`` with one line per doubt (held-out tracks reproject much worse than the solve's own,
    frames with too few or badly spread inliers, cameras turned far from VGGT's prediction, a focal at a
    bound, a focal the tracks pin only loosely (its standard deviation over ``MAX_FOCAL_SD`` %), too little
    parallax for free 3D points, the solve's or the held-out tracks' RMSE over ``GOOD_RMSE_PX`` plate px), else
    ``good``. ``check_frames``: plate frame numbers. Adds to ``report``: good_rmse_px (the threshold),
    validation_rmse_px (held-out RMSE within ``limit_px``), rmse_model_px / validation_rmse_model_px (the same in
    model px), parallax_deg.

    adjusted: ``adjust.Adjusted`` (None when no adjustment stands); validation: ``[S,N]`` held-out errors (plate
    px, NaN unseen); rt_start [S,3,4]: VGGT's cameras; uv [S,N,2] observations; frame_numbers: the plate frame
    number of each frame; px: plate pixels per model pixel; focal_start_px: VGGT's focal for the shot; limit_px: the
    adjustment's outlier limit (plate px; default ``4 * px``): held-out observations beyond it are outliers;
    lens_doubts: reasons to check the lens model found before (a zoom under a one-lens model, ``zoom.zoom_test``
    or without tracks ``lens.focal_drift``; a pinhole solve that a distortion fits far better,
    ``distortion_doubt``), one line each.
    """
    if report.get("skipped"):
        return "failed", [report["skipped"], *lens_doubts], []
    if adjusted is None:  # nothing was solved, so nothing says a CG element would hold (issue 27)
        return "preview", [PREVIEW_REASON, *lens_doubts], []
    reasons: list[str] = list(lens_doubts)
    flagged = np.zeros(len(sizes), bool)
    report["good_rmse_px"] = GOOD_RMSE_PX
    report["rmse_model_px"] = round(report["rmse_px"] / px, 4)
    val_rmse = None
    if validation is not None and np.isfinite(validation).any():
        limit = 4.0 * px if limit_px is None else limit_px
        ok = np.isfinite(validation) & (validation <= limit)
        seen = ~np.isnan(validation)
        val_rmse = float(np.sqrt(np.mean(validation[ok] ** 2))) if ok.any() else float("inf")
        report["validation_rmse_px"] = val_rmse if np.isfinite(val_rmse) else None
        report["validation_rmse_model_px"] = round(val_rmse / px, 4) if np.isfinite(val_rmse) else None
        bad_share = 1.0 - ok.sum() / max(seen.sum(), 1)
        own_share = report["outliers_rejected"] / max(report["observations"] + report["outliers_rejected"], 1)
        if val_rmse > VALIDATION_RATIO * report["rmse_px"] + 0.25 * px or bad_share > 2 * own_share + 0.05:
            reasons.append(f"held-out tracks reproject at {val_rmse:.2f} px RMSE ({bad_share:.0%} beyond "
                           f"{limit:.1f} px) against {report['rmse_px']:.2f} px for the solve's own: the cameras fit "
                           "their tracks, not the scene (try another --motion or --lens)")
        per_frame = np.array([np.sqrt(np.mean(v[o] ** 2)) if o.any() else np.nan for v, o in zip(validation, ok)])
        worse = np.nan_to_num(per_frame, nan=0.0) > VALIDATION_RATIO * max(report["rmse_px"], 0.25 * px) + 0.25 * px
        if worse.any() and not reasons:
            reasons.append(f"held-out tracks reproject badly on frames {_frames(frame_numbers, worse)}")
        flagged |= worse
    counts = adjusted.seen.sum(axis=1)
    few = counts < MIN_FRAME_OBS
    spread = np.zeros(len(sizes))
    for s, (w, h) in enumerate(sizes):
        pts = uv[s, adjusted.seen[s]]
        if len(pts):
            spread[s] = min(np.ptp(pts[:, 0]) / w, np.ptp(pts[:, 1]) / h)
    narrow = ~few & (spread < MIN_SPREAD)
    if few.any():
        reasons.append(f"too few tracks (under {MIN_FRAME_OBS}) on frames {_frames(frame_numbers, few)}")
    if narrow.any():
        reasons.append(f"tracks bunched in a small part of the frame on frames {_frames(frame_numbers, narrow)}")
    moved = _rotation_deg(adjusted.extrinsics, rt_start) > MAX_MOVE_DEG
    if moved.any():
        reasons.append(f"the adjuster turned the camera over {MAX_MOVE_DEG:.0f} degrees off VGGT's prediction on "
                       f"frames {_frames(frame_numbers, moved)}")
    ratio = report["focal_after_px"] / focal_start_px
    if not 0.55 <= ratio <= 1.8 or report["focal_after_px"] > 100 * max(w for w, _ in sizes):
        reasons.append(f"the focal length ended at a bound ({ratio:.2f}x VGGT's): the shot does not pin the lens")
    sd = report.get("focal_sd_pct")
    if sd is not None and sd > MAX_FOCAL_SD:
        per = " per frame" if report["lens"] == "zoom" else ""
        reasons.append(f"focal poorly constrained (+-{sd:.1f} %{per}): the tracks trade focal against depth; give "
                       "the focal (--lens known) or track a shot with more parallax")
    parallax = parallax_deg(adjusted.extrinsics, adjusted.points, adjusted.seen)
    report["parallax_deg"] = round(parallax, 3)
    if report.get("motion", "free") == "free" and parallax < MIN_PARALLAX_DEG:
        reasons.append(f"too little parallax for free 3D points (median triangulation angle {parallax:.2f} "
                       "degrees through the solved cameras): a nodal pan or a long lens; solve it with --motion tripod")
    moving, tracks = report.get("moving_tracks", 0), adjusted.seen.shape[1]
    if moving > MAX_MOVING_SHARE * tracks:
        reasons.append(f"{moving} of {tracks} tracks ({moving / tracks:.0%}) were rejected as moving: check the "
                       "red 'moving' markers, or mask what moves (--mask)")
    worst = max(report["rmse_px"], 0.0 if val_rmse is None else val_rmse)
    if worst > GOOD_RMSE_PX and not any("held-out tracks reproject" in r for r in reasons):
        held = "" if val_rmse is None else f", held-out tracks {val_rmse:.2f} px"
        hint = ("refine them on the plate (--track-refine plate)" if report.get("track_refine") == "none" else
                "check the tracks on the error graph's worst frames, mask what moves, or the lens model")
        reasons.append(f"tracks fit at {report['rmse_px']:.2f} px RMSE on the plate{held}, over the "
                       f"{GOOD_RMSE_PX:.1f} px a CG element may slip unseen: {hint}")
    flagged |= few | narrow | moved
    check_frames = [int(frame_numbers[i]) for i in np.flatnonzero(flagged)]
    return ("check" if reasons else "good"), reasons, check_frames
