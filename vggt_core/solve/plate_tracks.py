"""The track head's coarse tracks refined on the plate's own pixels (``Reconstruction.tracks_plate``).

The head tracks on the model canvas: one model pixel is 3.7 plate pixels at 1920 wide, 7.4 at 4K. Here each
observation is made sub-pixel on the full-resolution plate, as matchmove trackers track:

1. **Query points onto texture.** On its query frame, each track's query point moves to the plate pixel of
   strongest corner response (Shi-Tomasi's smaller structure-tensor eigenvalue, ``cv2.cornerMinEigenVal`` over
   ``BLOCK`` px) within ``SNAP_MODEL_PX`` model pixels of the head's query point, outside the mask. Where the
   response is under ``MIN_TEXTURE`` (a blank wall, a clear sky: nothing to be sub-pixel on) the whole track
   is dropped. That test is made on the plate halved down to about HD's scale (``TEXTURE_PX`` plate px per model
   px): the response falls with the square of the resolution (a 4K plate's gradients per pixel are half HD's), so
   on the 4K plate itself three in four textured queries of a scene read as blank (bench/results/plates_cpu.md).
2. **Each frame from the query frame's patch** (``refine_points``). Pyramidal Lucas-Kanade
   (``cv2.calcOpticalFlowPyrLK``, a ``WINDOW`` px window at HD, twice as wide per halving of ``texture_halvings``:
   the same patch of the scene at every resolution) from the query frame to every frame that saw the track
   (``tracks.head_observations``), started at the head's position moved by the snap; the pyramid
   (``pyramid_levels``) is deep enough that its top level has about one pixel per model pixel, so a head a few
   model pixels off is caught. Then an inverse-compositional affine Lucas-Kanade pass on the plate itself, gain
   and offset normalised out: a translational tracker is biased by the patch's own rotation and scale over a
   shot (0.14 px median on the bench's far frame, 3 degrees and 6 %), the affine pass is not (0.025 px, the
   grain's floor; ``bench/results/track_refine_cpu.md``).
3. **Checked both ways and by appearance.** Lucas-Kanade back from that frame to the query frame, started as
   far off as the forward pass was; kept when it lands within ``FB_MAX_PX`` of the query point, both passes
   converged, the affine pass converged to a plausible warp, the two patches correlate (``MIN_NCC``), the
   refined point moved at most ``MAX_SHIFT_MODEL_PX`` from the head's and lies inside what the network saw
   (padding, rows cropped away) and outside the frame's mask grown by half the window (a patch touching a mover
   moves with it). An observation that fails is dropped (``tracks_plate_vis`` False), never kept at the head's
   precision.

On a distorted plate the refinement runs on the plate's own (distorted) pixels, as the head's tracks and every
observation of the solve are: the refined position is the distorted pixel, and the solve's distortion model
(``--distortion``) takes it from there. Pixels are continuous (``reconstruction.py``: centres at ``i + 0.5``);
OpenCV puts them at integers (``cv_points``).

The plate is read again at full resolution (``plate.frames.iter_frames``): the query frames first, kept as grey
images for the run (a 4K grey frame is 8 MB), then every frame once. OpenCV is imported only when refining.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..plate.frames import iter_frames
from ..plate.masks import Masks
from ..plate.preprocess import pixels_to_original
from ..reconstruction import Reconstruction
from .tracks import head_observations, plate_px_per_model_px, query_frames, shown

TRACK_REFINES = ("plate", "none")
WINDOW = 21  # Lucas-Kanade window, plate px (bench/bench_track_refine.py: accuracy against time)
BLOCK = 7  # corner-response neighbourhood, plate px
SNAP_MODEL_PX = 1.0  # how far a query point may move onto texture, model px (the head's own error is about that)
MIN_TEXTURE = 2e-4  # smallest corner response (cornerMinEigenVal of [0, 1] grey) a track is refined on, judged
TEXTURE_PX = 1920 / 518  # ... at about this many plate px per model px (HD: where MIN_TEXTURE was measured)
FB_MAX_PX = 1.0  # forward-backward round trip of the coarse (translational) pass, plate px: its own bias under
# a patch's deformation reaches a few tenths of a pixel over a shot; the affine pass and MIN_NCC judge the fine one
MIN_NCC = 0.8  # normalised cross-correlation of the query patch and the refined one
MAX_SHIFT_MODEL_PX = 5.0  # a refined point further than this from the head's is another feature

Progress = Callable[[float], None]


def pyramid_levels(px_per_model_px: float) -> int:
    """Pyramid levels above the plate (``maxLevel``) for a plate with ``px_per_model_px`` plate pixels per
    model pixel: the top level has about one pixel per model pixel, one more level for a head a few model
    pixels off (3 model px = 11 plate px at 1920 wide: 3 levels; 4K: 4)."""
    return max(2, math.ceil(math.log2(max(px_per_model_px, 1.0))) + 1)


def refine_tracks(
    recon: Reconstruction,
    masks: Masks | None = None,
    cancel: Callable[[], bool] | None = None,
    progress: Progress | None = None,
) -> Reconstruction:
    """``recon`` with ``tracks_plate [S, N, 2]`` (float32 plate pixels, continuous) and ``tracks_plate_vis
    [S, N]`` (bool): every observation the head saw (``tracks.head_observations``) refined on the plate as the
    module says; elsewhere ``tracks_plate`` holds the head's position and ``tracks_plate_vis`` is False.

    masks: per frame a plate-pixel ``[H, W]`` bool mask (True = keep out) or None (``plate.masks``).
    cancel: polled between frames (``Cancelled`` from the frame reader). progress: fraction of frames done.
    The seconds it took are ``timings["plate_tracks"]``.
    Raises InputError when a frame cannot be read again (moved, changed: ``plate.frames.iter_frames``).
    """
    t0 = time.perf_counter()
    head, seen = head_observations(recon)
    qf = query_frames(recon)
    px = plate_px_per_model_px(recon)
    levels = pyramid_levels(float(np.median(px)))
    window = 2 ** texture_halvings(float(np.median(px))) * (WINDOW - 1) + 1  # odd: 21 px at HD, 41 at 4K
    out = head.copy()
    vis = np.zeros(seen.shape, bool)
    order = np.unique(qf)
    references = {}  # query frame -> its grey plate
    for pos, frame in iter_frames([recon.frames[q] for q in order], cancel=cancel):
        q = int(order[pos])
        grey = _grey(frame)
        cols = np.flatnonzero(qf == q)
        snapped, ok = _snap(grey, head[q, cols], SNAP_MODEL_PX * px[q], _mask(masks, q), texture_halvings(px[q]))
        out[q, cols] = snapped
        vis[q, cols] = ok & seen[q, cols] & _inside(snapped, recon, q, _grown(masks, q, window))
        references[q] = grey
    tracked = vis[qf, np.arange(len(qf))]  # tracks with a textured query point
    for s, frame in iter_frames(recon.frames, progress=progress, cancel=cancel):
        grey, grown = _grey(frame), _grown(masks, s, window)
        for q, ref in references.items():
            cols = np.flatnonzero((qf == q) & tracked & seen[s])
            if s == q or not len(cols):
                continue
            start = head[s, cols] + (out[q, cols] - head[q, cols])  # the snap moves the point on every frame
            found, ok = refine_points(ref, grey, out[q, cols], start, levels, window)
            ok &= np.hypot(*(found - start).T) <= MAX_SHIFT_MODEL_PX * px[s]
            ok &= _inside(found, recon, s, grown)
            out[s, cols] = np.where(ok[:, None], found, head[s, cols])
            vis[s, cols] = ok
    timings = {**recon.timings, "plate_tracks": time.perf_counter() - t0}
    return replace(recon, tracks_plate=out.astype(np.float32), tracks_plate_vis=vis, timings=timings)


def _grey(frame: np.ndarray) -> np.ndarray:
    """``H x W`` uint8 Rec.601 luma of an sRGB frame (what OpenCV's trackers take)."""
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _mask(masks: Masks | None, s: int) -> np.ndarray | None:
    return None if masks is None else masks[s]


def _grown(masks: Masks | None, s: int, window: int) -> np.ndarray | None:
    """Frame ``s``'s mask grown by half the window: a patch that touches the mask moves with what it masks."""
    import cv2

    mask = _mask(masks, s)
    if mask is None:
        return None
    return cv2.dilate(mask.astype(np.uint8), np.ones((window, window), np.uint8)).astype(bool)


def texture_halvings(px_per_model_px: float) -> int:
    """How many times a plate of ``px_per_model_px`` plate px per model px is halved (``cv2.pyrDown``) to judge
    texture at about ``TEXTURE_PX``: 0 up to HD, 1 at 4K, 2 at 8K; a smaller plate is judged as it is (its
    gradients per pixel are only stronger)."""
    return max(0, round(math.log2(max(px_per_model_px, 1e-9) / TEXTURE_PX)))


def _snap(grey: np.ndarray, points: np.ndarray, radius: float, mask: np.ndarray | None, halvings: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    """``points [n, 2]`` (plate px, continuous) each moved to the pixel centre of strongest corner response within
    ``radius`` px (never a masked pixel), and ``[n]`` whether the response there, on the plate halved ``halvings``
    times (``texture_halvings``), reaches ``MIN_TEXTURE``."""
    import cv2

    response = cv2.cornerMinEigenVal(grey.astype(np.float32) / 255.0, BLOCK)
    if mask is not None:
        response[mask] = -1.0
    h, w = grey.shape
    r = max(int(math.ceil(radius)), 1)
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = dx**2 + dy**2 <= radius**2 + 1e-9
    dx, dy = dx[disc], dy[disc]
    cx = np.floor(points[:, 0]).astype(np.int64)[:, None] + dx
    cy = np.floor(points[:, 1]).astype(np.int64)[:, None] + dy
    inside = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
    values = np.where(inside, response[np.clip(cy, 0, h - 1), np.clip(cx, 0, w - 1)], -np.inf)
    best = np.argmax(values, axis=1)
    rows = np.arange(len(points))
    snapped = np.stack([cx[rows, best], cy[rows, best]], axis=1) + 0.5
    if not halvings:
        return snapped.astype(np.float64), values[rows, best] >= MIN_TEXTURE
    coarse = grey
    for _ in range(halvings):
        coarse = cv2.pyrDown(coarse)
    judged = cv2.cornerMinEigenVal(coarse.astype(np.float32) / 255.0, BLOCK)
    at = np.floor(snapped / 2**halvings).astype(np.int64)
    at = np.minimum(at, [judged.shape[1] - 1, judged.shape[0] - 1])
    return snapped.astype(np.float64), (values[rows, best] > -1.0) & (judged[at[:, 1], at[:, 0]] >= MIN_TEXTURE)


def refine_points(ref: np.ndarray, grey: np.ndarray, query: np.ndarray, start: np.ndarray, levels: int,
                  window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Points ``query [n, 2]`` of the reference plate ``ref`` (``H x W`` uint8 grey; pixel centres, continuous plate
    px) found on the plate ``grey`` from ``start [n, 2]``: ``(found [n, 2] plate px, ok [n] bool)``. Pyramidal
    Lucas-Kanade (``levels`` above the plate, a ``window`` px window) brings each point within a pixel, there and
    back (ok: both passes converged and the round trip lands within ``FB_MAX_PX``); then ``_affine`` makes it
    sub-pixel with the patch's own deformation (ok: converged, and the patches correlate, ``MIN_NCC``)."""
    import cv2

    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 1e-2)
    kw = dict(winSize=(window, window), maxLevel=levels, criteria=criteria, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    q = cv_points(query)  # OpenCV's pixel centres are at integers
    fwd, ok_f, _ = cv2.calcOpticalFlowPyrLK(ref, grey, q, cv_points(start), **kw)
    back_start = q + (fwd - cv_points(start))  # as far off as the forward pass began
    back, ok_b, _ = cv2.calcOpticalFlowPyrLK(grey, ref, fwd, back_start, **kw)
    ok = (ok_f.ravel() == 1) & (ok_b.ravel() == 1) & np.isfinite(fwd.reshape(-1, 2)).all(axis=1)
    ok &= np.hypot(*(back - q).reshape(-1, 2).T) <= FB_MAX_PX
    found, ncc = _affine(ref.astype(np.float32), grey.astype(np.float32), query - 0.5, fwd.reshape(-1, 2), window)
    return found + 0.5, ok & (ncc >= MIN_NCC)


def cv_points(points: np.ndarray) -> np.ndarray:
    """Continuous plate pixels [n, 2] as OpenCV's ``[n, 1, 2]`` float32 points (pixel centres at integers)."""
    return np.ascontiguousarray((np.asarray(points) - 0.5).astype(np.float32).reshape(-1, 1, 2))


def _affine(ref: np.ndarray, grey: np.ndarray, query: np.ndarray, start: np.ndarray, window: int,
            iterations: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-compositional affine Lucas-Kanade (Baker and Matthews) of the ``window`` px patches of ``ref`` centred
    on ``query [n, 2]`` (OpenCV pixels, integers) onto ``grey`` from ``start [n, 2]``, gain and offset normalised
    out: ``(where each query's centre lands [n, 2] OpenCV pixels, the patches' correlation [n] there)``. The
    translational tracker's bias under the patch's rotation and scale (0.13 px for 3 degrees, 0.16 px for 8 %
    scale, on the bench's texture) is removed; NaN / -1 where a patch leaves its image or does not converge."""
    n, r = len(query), window // 2
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1].reshape(2, -1).astype(np.float32)
    qi = np.rint(query).astype(np.int64)
    h, w = ref.shape
    inside = np.all((qi >= r + 1) & (qi < [w - r - 1, h - r - 1]), axis=1) & np.isfinite(start).all(axis=1)
    qi = np.where(inside[:, None], qi, r + 1)
    yy, xx = qi[:, 1, None] + dy.astype(np.int64), qi[:, 0, None] + dx.astype(np.int64)
    t = ref[yy, xx]
    gx = 0.5 * (ref[yy, xx + 1] - ref[yy, xx - 1])
    gy = 0.5 * (ref[yy + 1, xx] - ref[yy - 1, xx])
    scale = np.sqrt(((t - t.mean(axis=1, keepdims=True)) ** 2).mean(axis=1, keepdims=True)) + 1e-6
    t, gx, gy = _normalised(t), gx / scale, gy / scale
    sd = np.stack([gx * dx, gx * dy, gy * dx, gy * dy, gx, gy], axis=2)  # [n, P, 6]: d patch / d parameters
    sd_t = sd.transpose(0, 2, 1)
    jac = (np.linalg.pinv((sd_t @ sd).astype(np.float64)) @ sd_t).astype(np.float32)  # [n, 6, P], fixed (IC)
    warp = np.tile(np.eye(3), (n, 1, 1))
    warp[:, :2, 2] = np.where(inside[:, None], start, 0.0)
    live, moving = inside.copy(), inside.copy()
    step = np.zeros((n, 6))
    for _ in range(iterations):
        k = np.flatnonzero(moving)
        if not len(k):
            break
        img, valid = _sample(grey, warp[k], dx, dy)
        live[k] &= valid
        step[k] = (jac[k] @ (_normalised(img) - t[k])[..., None])[..., 0]
        d = np.zeros((len(k), 3, 3))
        d[:, 0] = np.stack([1 + step[k, 0], step[k, 1], step[k, 4]], axis=1)
        d[:, 1] = np.stack([step[k, 2], 1 + step[k, 3], step[k, 5]], axis=1)
        d[:, 2, 2] = 1.0
        sane = np.isfinite(d).all(axis=(1, 2)) & (np.abs(np.linalg.det(d)) > 1e-3)  # a diverging patch stops here
        live[k] &= sane
        k, d = k[sane], d[sane]
        warp[k] = warp[k] @ np.linalg.inv(d)
        moving[moving] = False
        moving[k] = valid[sane] & (np.abs(step[k, 4:]) >= 1e-3).any(axis=1)
    img, valid = _sample(grey, warp, dx, dy)
    ncc = (_normalised(img) * t).mean(axis=1)
    sv = np.linalg.svd(warp[:, :2, :2], compute_uv=False)
    live &= valid & ~moving & (sv[:, 1] > 0.5) & (sv[:, 0] < 2.0)
    return np.where(live[:, None], warp[:, :2, 2], np.nan), np.where(live, ncc, -1.0)


def _normalised(patches: np.ndarray) -> np.ndarray:
    """``[n, P]`` patches at zero mean and unit RMS (gain and offset out of the comparison)."""
    patches = patches - patches.mean(axis=1, keepdims=True)
    return patches / (np.sqrt((patches * patches).mean(axis=1, keepdims=True)) + 1e-6)


def _sample(img: np.ndarray, warp: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear samples ``[n, P]`` of ``img`` (float32) at the window offsets ``(dx, dy)`` [P] through ``warp
    [n, 3, 3]``, and ``[n]`` whether every sample lies inside the image."""
    m = warp.astype(np.float32)
    x = m[:, 0, 0, None] * dx + m[:, 0, 1, None] * dy + m[:, 0, 2, None]
    y = m[:, 1, 0, None] * dx + m[:, 1, 1, None] * dy + m[:, 1, 2, None]
    h, w = img.shape
    valid = np.all((x >= 0) & (x < w - 1) & (y >= 0) & (y < h - 1), axis=1)
    x0 = np.clip(np.floor(x), 0, w - 2)
    y0 = np.clip(np.floor(y), 0, h - 2)
    fx, fy = x - x0, y - y0
    i = y0.astype(np.int64) * w + x0.astype(np.int64)
    flat = img.ravel()
    top = flat[i] + (flat[i + 1] - flat[i]) * fx
    bottom = flat[i + w] + (flat[i + w + 1] - flat[i + w]) * fx
    return top + (bottom - top) * fy, valid


def _inside(points: np.ndarray, recon: Reconstruction, s: int, mask: np.ndarray | None) -> np.ndarray:
    """``[n]`` bool: plate points [n, 2] of frame ``s`` inside what the network saw of it and outside ``mask``."""
    points = np.nan_to_num(points, nan=-1.0)  # not found: outside
    (x0, y0), (x1, y1) = shown(recon.preprocess[s])
    lo, hi = pixels_to_original(np.array([[x0, y0], [x1, y1]], np.float64), recon.preprocess[s])
    ok = np.all((points >= lo) & (points <= hi), axis=1)
    if mask is not None:
        h, w = mask.shape
        ix = np.clip(np.floor(points[:, 0]).astype(np.int64), 0, w - 1)
        iy = np.clip(np.floor(points[:, 1]).astype(np.int64), 0, h - 1)
        ok &= ~mask[iy, ix]
    return ok
