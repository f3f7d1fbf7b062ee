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
the shot zooms. Whether it does is decided on the whole shot, never its end frames: ``focal_drift`` measures how
far VGGT's per-frame focal moves between the shot's first and last quarters (or across its best split, for a snap
zoom), robustly, against its frame-to-frame noise; without bundle adjustment that alone decides
(``FocalDrift.zooms``), with it a drift that is not clearly flat is settled by the tracks (``solve/zoom.py``).
All intrinsics are 3x3 in original pixels, continuous convention (see ``vggt_core.reconstruction``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

LENSES = ("auto", "per-frame", "shared", "known", "zoom")
ZOOM_WINDOW = 7  # frames in the running median: VGGT's per-frame focal noise averages out, a step survives
# Thresholds on log focal over the whole shot, for VGGT's per-frame focal error of 4-5 % (bench/bench_zoom.py).
ZOOM_MIN_DRIFT = 0.09  # VGGT's focal alone calls a zoom from 9 % (a 1.2x zoom moves it 18 %) ...
ZOOM_SIGNIFICANCE = 3.0  # ... and from 3 standard errors of its frame-to-frame noise
ZOOM_FLAT = 0.02  # a focal moving less than 2 % over the shot is one lens (VGGT's, or the per-frame solve's)


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


@dataclass(frozen=True)
class FocalDrift:
    """How a per-frame focal moves over a whole shot (``focal_drift``). change: log focal, later part minus
    earlier (``exp(change) - 1`` is the fraction); sd: its standard error were the frames' errors independent (from
    the frame-to-frame scatter); noise: that scatter, a fraction per frame."""

    change: float
    sd: float
    noise: float

    @property
    def zooms(self) -> bool:
        """The focal alone says zoom: it moves over ``ZOOM_MIN_DRIFT`` and ``ZOOM_SIGNIFICANCE`` standard errors."""
        return bool(abs(self.change) >= max(ZOOM_MIN_DRIFT, ZOOM_SIGNIFICANCE * self.sd))

    @property
    def flat(self) -> bool:
        """The focal alone says no zoom: it moves under ``ZOOM_FLAT``, and under ``ZOOM_MIN_DRIFT`` by 3 standard
        errors. Noise correlated from frame to frame can fake a 20 % drift or hide most of a 1.2x zoom's (down to
        3 % on one shot in a thousand): between flat and a zoom only the tracks can tell."""
        return bool(abs(self.change) < ZOOM_FLAT and abs(self.change) + 3 * self.sd < ZOOM_MIN_DRIFT)

    def __str__(self) -> str:
        return (f"VGGT's focal moves {np.expm1(self.change):+.1%} over the shot (frame-to-frame noise "
                f"{self.noise:.1%})")


def focal_drift(focal: np.ndarray) -> FocalDrift:
    """How ``[S]`` per-frame focal lengths (px) move over the shot, measured on all its frames: the larger of the
    shift between its first and last quarters and the largest shift across one split (a snap zoom, each side at
    least a fifth of the shot), each the Hodges-Lehmann shift (median of the pairwise differences) of log focal:
    robust to wild frames, nearly as precise as a mean. Fewer than 4 frames: no drift can be measured (sd inf).

    Why not a running median's range: its window shrinks to one frame at each end, so the raw first and last
    focal set the range, and 4 % per-frame noise called 43 % of fixed lenses a zoom."""
    x = np.log(np.asarray(focal, np.float64))
    n = len(x)
    d = np.diff(x)
    noise = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(2) if n > 2 else 0.0
    if n < 4:
        return FocalDrift(0.0, float("inf"), noise)
    end, edge = max(2, n // 4), max(2, n // 5)
    splits = [(end, n - end)] + [(k, k) for k in range(edge, n - edge + 1)]
    shifts = [float(np.median(np.subtract.outer(x[b:], x[:a]))) for a, b in splits]
    i = int(np.argmax(np.abs(shifts)))
    a, b = splits[i]
    # the Hodges-Lehmann shift's standard error is 1.02x the mean's under Gaussian noise
    return FocalDrift(shifts[i], 1.02 * noise * float(np.sqrt(1 / a + 1 / (n - b))), noise)


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
