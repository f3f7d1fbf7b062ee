"""Bundle adjustment of cameras, points and lens with pycolmap (COLMAP's Ceres bundle adjuster).

Robust (Cauchy, ``loss_scale_px``) loss; after each pass, observations reprojecting farther than ``max_error_px``
are rejected and the problem is solved again from the refined state. Cameras: one shared camera for ``shared`` and
``known`` lenses (``SIMPLE_PINHOLE``, or ``SIMPLE_RADIAL`` / ``RADIAL`` with distortion ``k1`` / ``k1,k2``: COLMAP's
polynomial ``1 + k1 r^2 + k2 r^4`` on normalised coordinates), one ``PINHOLE`` camera per frame for ``per-frame``,
one square camera per frame for ``zoom`` (with distortion: ``SIMPLE_RADIAL`` / ``RADIAL``; COLMAP cannot tie one
distortion across cameras, so it is refined per frame, the shot's is their median, and a later pass holds it).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import Cancelled
from .colmap_output import quiet_colmap
from .verdict import project

DISTORTIONS = ("none", "k1", "k1k2")
CAMERA_MODELS = {"none": "SIMPLE_PINHOLE", "k1": "SIMPLE_RADIAL", "k1k2": "RADIAL"}  # square pixels, one focal


@dataclass
class Adjusted:
    """A refined solve.

    intrinsics [S,3,3], extrinsics [S,3,4] (camera-from-world) float64; distortion (k1, k2), zeros when not solved;
    points [N,3] for every input track (meaningful where ``seen`` has a column with >= 2 entries);
    seen [S,N] bool: the inlier observations; errors [S,N] their reprojection errors in pixels (NaN elsewhere);
    rejected: observations dropped as outliers; camera_model: the COLMAP model of the camera(s);
    focal_sd: ``[S]`` the focal's standard deviation per frame as a fraction of it (``focal_sd``), None when
    the focal was held or could not be estimated.
    """

    intrinsics: np.ndarray
    extrinsics: np.ndarray
    distortion: tuple[float, float]
    points: np.ndarray
    seen: np.ndarray
    errors: np.ndarray
    rejected: int
    camera_model: str
    focal_sd: np.ndarray | None = None


def _params(k: np.ndarray, model: str, dist: tuple[float, float]) -> list[float]:
    if model == "PINHOLE":
        return [k[0, 0], k[1, 1], k[0, 2], k[1, 2]]
    return [k[0, 0], k[0, 2], k[1, 2], *dist[: {"SIMPLE_PINHOLE": 0, "SIMPLE_RADIAL": 1, "RADIAL": 2}[model]]]


def _build(pc, intrinsics, extrinsics, dists, sizes, shared, model, uv, seen, points):
    """A pycolmap.Reconstruction of the tracks with >= 2 observations; returns it and their track indices."""
    rec = pc.Reconstruction()
    for cam_id in [1] if shared else range(1, len(sizes) + 1):
        w, h = sizes[cam_id - 1]
        rec.add_camera_with_trivial_rig(pc.Camera(
            model=model, width=int(w), height=int(h), params=_params(intrinsics[cam_id - 1], model, dists[cam_id - 1]),
            camera_id=cam_id))
    used = np.flatnonzero(seen.sum(axis=0) >= 2)
    elements: list[list] = [[] for _ in used]
    for s in range(len(sizes)):
        cols = np.flatnonzero(seen[s, used])
        img = pc.Image(name=str(s), keypoints=uv[s, used[cols]], camera_id=1 if shared else s + 1, image_id=s + 1)
        rec.add_image_with_trivial_frame(img, pc.Rigid3d(extrinsics[s]))
        for k, c in enumerate(cols):
            elements[c].append(pc.TrackElement(s + 1, k))
    point_ids = np.empty(len(used), dtype=np.int64)
    for c, els in enumerate(elements):
        track = pc.Track()
        track.add_elements(els)
        point_ids[c] = rec.add_point3D(points[used[c]], track)
    return rec, used, point_ids


def subsample(seen: np.ndarray, per_track: int) -> np.ndarray:
    """``seen`` [S,N] thinned to about ``per_track`` observations per track, evenly spread along each track,
    with phases staggered across tracks so every frame keeps its share.

    Why: the Schur complement costs O(track length^2) per point, and 100-frame tracks would make bundle
    adjustment take minutes; a dozen well-spread views constrain a point as well.
    """
    length = seen.sum(axis=0)
    step = np.maximum(np.ceil(length / per_track), 1).astype(np.int64)
    rank = np.cumsum(seen, axis=0) - 1
    phase = np.arange(seen.shape[1]) % step
    return seen & ((rank % step) == phase)


def _pose(img) -> np.ndarray:
    return img.cam_from_world().matrix()


def _errors(rec, uv: np.ndarray, seen: np.ndarray, points: np.ndarray) -> np.ndarray:
    """[S,N] reprojection errors (pixels) through the solved cameras, lens included; inf behind a camera."""
    err = np.full(seen.shape, np.nan)
    for s in range(seen.shape[0]):
        cols = np.flatnonzero(seen[s])
        rt = _pose(rec.images[s + 1])
        cam_pts = points[cols] @ rt[:, :3].T + rt[:, 3]
        proj = rec.images[s + 1].camera.img_from_cam(cam_pts, check_cheirality=False)
        e = np.linalg.norm(proj - uv[s, cols], axis=1)
        err[s, cols] = np.where(cam_pts[:, 2] > 0, e, np.inf)
    return err


def focal_sd(pc, rec, options, sigma_px: float) -> np.ndarray | None:
    """``[S]`` the refined focal's standard deviation per image, as a fraction of the focal, or None.

    COLMAP's covariance of the last adjustment (``estimate_ba_covariance``: the inverse of the Schur complement
    on cameras, the points marginalised, gauge fixed by two cameras) for unit pixel noise, scaled by
    ``sigma_px`` (the observations' noise per axis, plate px). Why: on a shot with little parallax the focal
    trades against depth and the held-out tracks still fit, so only its uncertainty says the lens is not pinned.
    """
    config = pc.BundleAdjustmentConfig()
    for image_id in rec.reg_image_ids():
        config.add_image(image_id)
    config.fix_gauge(pc.BundleAdjustmentGauge.TWO_CAMS_FROM_WORLD)
    with quiet_colmap():
        cov = pc.estimate_ba_covariance(pc.BACovarianceOptions(), rec, pc.create_default_ceres_bundle_adjuster(
            options, config, rec))
    if cov is None:
        return None
    out = np.empty(len(rec.images))
    for s in range(len(out)):
        cam = rec.images[s + 1].camera
        var = cov.get_other_params_cov(cam.params)
        if var is None:
            return None
        out[s] = np.sqrt(max(float(var[0, 0]), 0.0)) * sigma_px / cam.params[0]
    return out


def profile_sd(
    adjusted: Adjusted, sizes: list[tuple[int, int]], uv: np.ndarray, shared: bool, square: bool, distortion: str,
    delta: float, cancel: Callable[[], bool] | None = None, **limits,
) -> float:
    """The focal's standard deviation (fraction) from a profile: the cameras and points adjusted again with every
    frame's focal held at its solved value and at ``1 -+ delta`` times it, the (Cauchy) cost rising by ``chi2``
    (in units of the observations' noise variance per axis) on the flatter side: ``delta / sqrt(chi2)``, the
    quadratic reading of the profile (``delta`` a few times the sd sought, so the rise is well above the
    adjuster's own convergence noise); at most ``10 * delta``, where the cost does not rise measurably.

    Why besides the covariance: on a push-in the focal/depth valley is long and curved, and the curvature at the
    solution (what the covariance sees) can be far steeper than the valley's floor; the profile walks along it.
    On a zoom all frames' focals move together: their common scale is what trades against depth (its distortion,
    solved per frame, is held at the shot's).
    limits: ``max_error_px`` and ``loss_scale_px`` as given to ``bundle_adjust``.
    """
    obs = subsample(adjusted.seen, 12)  # the observations the adjuster sees (its default ``per_track``)
    sigma2 = float(np.mean(adjusted.errors[adjusted.seen] ** 2)) / 2
    scale2 = float(limits["loss_scale_px"]) ** 2

    def held(scale: float) -> float:
        k = adjusted.intrinsics.copy()
        k[:, 0, 0] *= scale
        k[:, 1, 1] *= scale
        out = bundle_adjust(k, adjusted.extrinsics, sizes, uv, adjusted.seen, adjusted.points, shared=shared,
                            refine_focal=False, distortion=distortion, square=square, rounds=1, cancel=cancel,
                            dist=None if shared else adjusted.distortion, **limits)
        proj, _ = project(out.intrinsics, out.extrinsics, out.distortion, out.points)
        e2 = np.sum((proj - uv)[obs] ** 2, axis=-1)
        return float(np.sum(scale2 * np.log1p(e2 / scale2)))  # the Cauchy cost the adjuster minimises

    base = held(1.0)  # the same problem at the solved focal: its cost, not the last pass's, is the reference
    rise = min(held(1.0 - delta), held(1.0 + delta)) - base
    # a rise under 1/100 of the noise (or none: the valley is flat to the adjuster's precision) reads as 10 steps
    return float(delta / np.sqrt(max(rise / sigma2, 1e-2)))


def _run_with_prior(pc, rec, options, prior: tuple[np.ndarray, float], cancel: Callable[[], bool] | None) -> None:
    """COLMAP's pose-prior bundle adjuster: every image's camera centre held near ``prior`` ``([S, 3] world
    centres, sigma in world units)`` by an isotropic Gaussian prior. Cancel is polled before and after (that
    adjuster takes no cancellation token)."""
    centres, sigma = prior
    priors = []
    for image_id, image in rec.images.items():
        p = pc.PosePrior()
        p.corr_data_id = image.data_id
        p.position = np.asarray(centres[image_id - 1], np.float64)
        p.position_covariance = np.eye(3) * sigma ** 2
        p.coordinate_system = pc.PosePriorCoordinateSystem.CARTESIAN
        priors.append(p)
    config = pc.BundleAdjustmentConfig()
    for image_id in rec.reg_image_ids():
        config.add_image(image_id)
    prior_options = pc.PosePriorBundleAdjustmentOptions()
    prior_options.prior_position_fallback_stddev = sigma
    if cancel is not None and cancel():
        raise Cancelled("camera solve cancelled")
    with quiet_colmap():
        pc.create_pose_prior_bundle_adjuster(options, prior_options, config, priors, rec).solve()
    if cancel is not None and cancel():
        raise Cancelled("camera solve cancelled")


def _run(pc, rec, options, cancel: Callable[[], bool] | None) -> None:
    """``pycolmap.bundle_adjustment``, cancelled (Ceres stops at its next iteration) once ``cancel()`` is True;
    its log sorted by ``quiet_colmap``."""
    if cancel is None:
        with quiet_colmap():
            pc.bundle_adjustment(rec, options)
        return
    token = pc.CancellationToken()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            if cancel():
                token.cancel()
                return

    threading.Thread(target=watch, daemon=True).start()
    try:
        with quiet_colmap():
            pc.bundle_adjustment(rec, options, token)
    except InterruptedError:  # pycolmap raises it when the token stops Ceres before its first iteration ends
        if not token.is_cancelled:
            raise
    finally:
        done.set()
    if token.is_cancelled or cancel():
        raise Cancelled("camera solve cancelled")


def bundle_adjust(
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    sizes: list[tuple[int, int]],
    uv: np.ndarray,
    seen: np.ndarray,
    points: np.ndarray,
    shared: bool,
    refine_focal: bool = True,
    distortion: str = "none",
    square: bool = False,
    dist: tuple[float, float] | None = None,
    max_error_px: float | np.ndarray = 4.0,
    loss_scale_px: float = 1.0,
    rounds: int = 3,
    per_track: int = 12,
    cancel: Callable[[], bool] | None = None,
    centre_prior: tuple[np.ndarray, float] | None = None,
) -> Adjusted:
    """Refine ``extrinsics`` [S,3,4], ``points`` [N,3] and the lens from observations ``uv`` [S,N,2] (original
    pixels) where ``seen`` [S,N] (tracks seen fewer than twice are left out).

    shared: one camera for all frames (``intrinsics[0]``; frames must share a size), else one per frame
    (``PINHOLE``, or ``SIMPLE_PINHOLE`` with ``square``: one focal per frame, the zoom lens).
    refine_focal: refine the focal length(s); distortion: ``none``, ``k1`` or ``k1k2`` (a shared camera, or
    ``square`` ones); dist: its values ``(k1, k2)`` to hold, or None to refine it from zero (per frame on
    ``square`` cameras: the returned ``distortion`` is the frames' median).
    per_track: observations per track the adjuster sees (``subsample``); every inlier is still measured and
    rejected against ``max_error_px`` (original pixels; a scalar or one per frame ``[S]``) after each of the
    ``rounds`` solves. loss_scale_px: the Cauchy loss scale (original pixels), where it starts to discount.
    centre_prior: ``(centres [S, 3], sigma)``: every camera centre held near its given one (world units) by a
    Gaussian prior of that sigma (``_run_with_prior``), or None. Why: the tracks of a shot reconstructed in
    chunks span at most two chunks, so they leave the path's slow bends and scale drift nearly free (two solves
    from different starts fit their tracks equally well, 2.8 % and 0.7 % of the path apart on the VGGT-like
    stand-in); the stitched centres pin those down and the tracks the rest.
    Raises Cancelled when ``cancel()`` turns True (polled every 0.1 s while Ceres iterates; with a prior, between
    passes).
    """
    import pycolmap as pc

    if distortion not in DISTORTIONS:
        raise ValueError(f"unknown distortion {distortion!r}")
    if distortion != "none" and not (shared or square):
        raise ValueError("distortion needs a shared camera or square ones")
    model = CAMERA_MODELS[distortion] if shared or square else "PINHOLE"
    k = np.asarray(intrinsics, np.float64).copy()
    rt = np.asarray(extrinsics, np.float64).copy()
    pts = np.asarray(points, np.float64).copy()
    uv = np.asarray(uv, np.float64)
    seen = np.asarray(seen, bool).copy()
    refine_dist = distortion != "none" and dist is None
    dists = np.tile(np.asarray(dist or (0.0, 0.0), np.float64), (len(sizes), 1))
    options = pc.BundleAdjustmentOptions()
    options.print_summary = False
    options.refine_focal_length = refine_focal
    options.refine_principal_point = False
    options.refine_extra_params = refine_dist
    options.ceres.loss_function_type = pc.LossFunctionType.CAUCHY
    options.ceres.loss_function_scale = float(loss_scale_px)
    limit = np.broadcast_to(np.asarray(max_error_px, np.float64).reshape(-1, 1), (len(sizes), 1))
    solver = options.ceres.solver_options
    solver.num_threads = 2
    solver.function_tolerance = 1e-6  # COLMAP's 0 keeps iterating on sub-millipixel gains; this is Ceres' default
    solver.max_num_iterations = 50
    rejected = 0
    for _ in range(rounds):
        rec, used, point_ids = _build(pc, k, rt, dists, sizes, shared, model, uv, subsample(seen, per_track), pts)
        if centre_prior is None:
            _run(pc, rec, options, cancel)
        else:
            _run_with_prior(pc, rec, options, centre_prior, cancel)
        for s in range(len(sizes)):
            cam = rec.images[s + 1].camera
            k[s] = cam.calibration_matrix()
            rt[s] = _pose(rec.images[s + 1])
            if refine_dist:
                dists[s] = [*cam.params[3:], 0.0][:2]
        pts[used] = np.array([rec.points3D[int(p)].xyz for p in point_ids]).reshape(-1, 3)
        seen[:, np.setdiff1d(np.arange(seen.shape[1]), used)] = False
        err = _errors(rec, uv, seen, pts)
        bad = seen & ~(err <= limit)
        rejected += int(bad.sum())
        seen &= ~bad
        if not bad.any():
            break
    seen[:, seen.sum(axis=0) < 2] = False
    errors = np.where(seen, err, np.nan)
    sd = None
    if refine_focal and seen.any():
        # noise per axis from the inliers' 2D errors; the covariance is of the last pass's (subsampled) problem
        sd = focal_sd(pc, rec, options, float(np.sqrt(np.mean(errors[seen] ** 2) / 2)))
    median = np.median(dists, axis=0)  # the shared camera's own on a shared lens
    return Adjusted(k, rt, (float(median[0]), float(median[1])), pts, seen, errors, rejected, model, sd)
