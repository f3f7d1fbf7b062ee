"""Lens models: which intrinsics every frame of a shot gets before (and without) refinement.

``per-frame``: VGGT's own prediction per frame (focal, fy/fx and principal point may change every frame).
``shared``: one camera for the shot: square pixels, focal = median over frames of the predicted
``sqrt(fx * fy)``, principal point at the plate centre ``(W / 2, H / 2)``.
``known``: like ``shared`` but with the focal the user gives, in pixels or as ``focal_mm`` over ``sensor_width_mm``
(the sensor's width maps to the plate's width).
``zoom``: one principal point (the plate centre) and square pixels for the shot, a focal per frame: VGGT's
per-frame focal smoothed robustly (``smooth_focal``: a running median, which keeps a snap zoom's step).
``auto``: ``shared`` when every frame has the same size (videos, strips, clips, one camera's photos),
``per-frame`` otherwise (a folder of photos of different sizes); the solve turns ``shared`` into ``zoom`` when
VGGT's focal drifts over the shot beyond its per-frame noise (``zoom_drift``).
All intrinsics are 3x3 in original pixels, continuous convention (see ``vggt_core.reconstruction``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError

LENSES = ("auto", "per-frame", "shared", "known", "zoom")
ZOOM_WINDOW = 7  # frames in the running median: VGGT's per-frame focal noise averages out, a step survives
ZOOM_MIN_DRIFT = 0.08  # a drift under 8 % of the focal is not told apart from VGGT's wobble


def resolve(lens: str, sizes: Sequence[tuple[int, int]]) -> str:
    """The concrete lens model (``per-frame``, ``shared`` or ``known``) for frames of ``sizes`` ``(W, H)``."""
    if lens not in LENSES:
        raise InputError(f"unknown lens model {lens!r} (use one of {', '.join(LENSES)})")
    if lens == "auto":
        return "shared" if len(set(sizes)) <= 1 else "per-frame"
    if lens != "per-frame" and len(set(sizes)) > 1:
        raise InputError(f"lens {lens!r} needs frames of one size, these have {len(set(sizes))}; use --lens per-frame")
    return lens


def known_focal_px(width: int, focal_px: float | None, focal_mm: float | None, sensor_width_mm: float | None) -> float:
    """The user's focal length in pixels of a plate ``width`` pixels wide."""
    if focal_px is not None:
        if focal_px <= 0:
            raise InputError(f"focal length must be positive, got {focal_px} px")
        return float(focal_px)
    if focal_mm is None or sensor_width_mm is None or focal_mm <= 0 or sensor_width_mm <= 0:
        raise InputError("lens 'known' needs --focal-px, or --focal-mm with --sensor-width (positive numbers)")
    return float(focal_mm) * width / float(sensor_width_mm)


def lens_intrinsics(
    intrinsics: np.ndarray,
    sizes: Sequence[tuple[int, int]],
    lens: str,
    focal_px: float | None = None,
    focal_mm: float | None = None,
    sensor_width_mm: float | None = None,
) -> np.ndarray:
    """``[S, 3, 3]`` float64 intrinsics for ``lens`` (already ``resolve``d) from the predicted ``intrinsics``."""
    k = np.asarray(intrinsics, dtype=np.float64).copy()
    if lens == "per-frame":
        return k
    w, h = sizes[0]
    if lens == "shared":
        f = float(np.median(np.sqrt(k[:, 0, 0] * k[:, 1, 1])))
    elif lens == "zoom":
        f = smooth_focal(np.sqrt(k[:, 0, 0] * k[:, 1, 1]))[:, None, None]
    else:
        f = known_focal_px(w, focal_px, focal_mm, sensor_width_mm)
    k[:] = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]) * f + [[0, 0, w / 2.0], [0, 0, h / 2.0], [0, 0, 1.0]]
    return k


def smooth_focal(focal: np.ndarray, window: int = ZOOM_WINDOW) -> np.ndarray:
    """``[S]`` per-frame focal lengths (px) -> the running median over ``window`` frames, in log focal: robust to
    VGGT's outlier frames and, unlike a mean, keeps a snap zoom's step sharp. The window shrinks symmetrically
    at the ends, so a steady zoom (a monotonic focal) passes through unchanged."""
    logf = np.log(np.asarray(focal, np.float64))
    n = len(logf)
    half = [min(window // 2, i, n - 1 - i) for i in range(n)]
    return np.exp([np.median(logf[i - h:i + h + 1]) for i, h in enumerate(half)])


def zoom_drift(intrinsics: np.ndarray) -> tuple[float, float]:
    """``(drift, noise)`` of VGGT's per-frame focal, as fractions: drift = the range of the smoothed focal over
    the shot, noise = the robust spread (1.4826 MAD) of the frames about it."""
    f = np.sqrt(intrinsics[:, 0, 0] * intrinsics[:, 1, 1]).astype(np.float64)
    smooth = np.log(smooth_focal(f))
    noise = 1.4826 * float(np.median(np.abs(np.log(f) - smooth)))
    return float(np.exp(np.ptp(smooth)) - 1), noise


def zooms(intrinsics: np.ndarray) -> tuple[bool, str]:
    """Whether VGGT's focal drifts beyond its per-frame noise (and ``ZOOM_MIN_DRIFT``), and one line why."""
    drift, noise = zoom_drift(intrinsics)
    # the smoothed curve's own wobble is about noise / sqrt(window); a real zoom rises well above it
    limit = max(ZOOM_MIN_DRIFT, 6 * noise / np.sqrt(ZOOM_WINDOW))
    return drift > limit, f"VGGT's focal drifts {drift:.0%} over the shot (per-frame noise {noise:.1%})"


def aspect_warning(intrinsics: np.ndarray, sizes: Sequence[tuple[int, int]]) -> str | None:
    """One line when frames differ in size or pixel aspect (fy / fx), so one animated camera cannot fit them
    all (Blender's resolution and pixel aspect are per scene); None when they agree."""
    k = np.asarray(intrinsics, np.float64)
    aspect = k[:, 1, 1] / k[:, 0, 0]
    odd = [i for i in range(len(sizes)) if sizes[i] != sizes[0] or abs(aspect[i] / aspect[0] - 1) > 1e-4]
    if not odd:
        return None
    needs = ", ".join(f"frame {i}: {sizes[i][0]}x{sizes[i][1]} px, pixel aspect {aspect[i]:.4f}" for i in odd[:3])
    more = f" and {len(odd) - 3} more" if len(odd) > 3 else ""
    return (f"per-frame lens: {len(odd)} frames differ from frame 0 ({sizes[0][0]}x{sizes[0][1]}, aspect "
            f"{aspect[0]:.4f}) in size or pixel aspect, so the animated camera fits frame 0 only; use each "
            f"frame's camera ({needs}{more}) or a shared lens")
