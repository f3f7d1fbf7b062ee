"""Resize frames to the network's resolution exactly as the original VGGT loader does, and map back.

Modes (target ``T = 518`` by default; sizes are multiples of the 14-pixel patch):

* ``"crop"``: width := T, height := ``round(h * (T / w) / 14) * 14`` (Python's banker's rounding); if the
  height exceeds T the centre T rows are kept (first row ``(height - T) // 2``). Landscape frames stay
  shorter than T.
* ``"pad"``: the longer side := T, the other ``round(side * (T / long) / 14) * 14``; the image is centred on a
  white ``T x T`` canvas (top/left padding ``floor(pad / 2)``).

Resizing is PIL bicubic on 8-bit RGB. When frames end up with different sizes they are all padded with
white, centred, to the largest height and width (as the original does). Each frame's ``PreprocessRecord``
stores the resize and the total offset, which is all that is needed to map pixels and intrinsics back.

Pixel convention: continuous coordinates, the image spans ``[0, W] x [0, H]``, pixel centres at ``i + 0.5``.
Under this convention the mapping is exactly affine: ``u_model = sx * u_orig + ox``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..reconstruction import PreprocessRecord

PATCH = 14
TARGET = 518
MODES = ("crop", "pad")


def plan(width: int, height: int, mode: str = "crop", target: int = TARGET) -> PreprocessRecord:
    """The record for one ``width x height`` frame before any mixed-size padding."""
    if mode not in MODES:
        raise InputError(f"unknown preprocessing mode {mode!r} (use 'crop' or 'pad')")
    if target % PATCH or target < PATCH:
        raise InputError(f"resolution must be a positive multiple of {PATCH}, got {target}")
    if mode == "crop" or width >= height:
        rw, rh = target, round(height * (target / width) / PATCH) * PATCH
    else:
        rw, rh = round(width * (target / height) / PATCH) * PATCH, target
    if rw < PATCH or rh < PATCH:
        raise InputError(f"a {width}x{height} frame is too elongated to process (aspect ratio above {target // PATCH}:1)")
    if mode == "crop":
        top = -((rh - target) // 2) if rh > target else 0
        return PreprocessRecord(mode, (width, height), (rw, rh), (0, top), (target, min(rh, target)))
    return PreprocessRecord(mode, (width, height), (rw, rh), ((target - rw) // 2, (target - rh) // 2), (target, target))


def _pad_to(record: PreprocessRecord, size_wh: tuple[int, int]) -> PreprocessRecord:
    """``record`` after centring its canvas on a larger white canvas of ``size_wh``."""
    dx = (size_wh[0] - record.model_size[0]) // 2
    dy = (size_wh[1] - record.model_size[1]) // 2
    ox, oy = record.offset
    return PreprocessRecord(record.mode, record.orig_size, record.resized_size, (ox + dx, oy + dy), size_wh)


def plan_batch(sizes: Sequence[tuple[int, int]], mode: str = "crop", target: int = TARGET) -> list[PreprocessRecord]:
    """Records for frames of the given original ``(width, height)`` sizes, including mixed-size padding."""
    if not sizes:
        raise InputError("no frames to preprocess")
    records = [plan(w, h, mode, target) for w, h in sizes]
    size = (max(r.model_size[0] for r in records), max(r.model_size[1] for r in records))
    return [_pad_to(r, size) for r in records]


def render(frame: np.ndarray, rec: PreprocessRecord, out: np.ndarray | None = None) -> np.ndarray:
    """One ``H x W x 3`` uint8 frame -> ``[3, Hm, Wm]`` float32 in [0, 1] as ``rec`` describes.

    Values equal the original's: ``uint8 / 255`` of the PIL bicubic resize, padding 1.0 (white).
    out: optional destination array (e.g. a slice of a preallocated batch).
    """
    from PIL import Image

    if out is None:
        out = np.empty((3, rec.model_size[1], rec.model_size[0]), dtype=np.float32)
    out[...] = 1.0
    resized = np.asarray(Image.fromarray(frame).resize(rec.resized_size, Image.Resampling.BICUBIC))
    src, dst = _overlap(rec)
    out[(slice(None),) + dst] = resized[src].transpose(2, 0, 1) / np.float32(255.0)
    return out


def preprocess(
    frames: Sequence[np.ndarray], mode: str = "crop", target: int = TARGET
) -> tuple[np.ndarray, list[PreprocessRecord]]:
    """Frames (``H x W x 3`` uint8) -> ``images [S, 3, Hm, Wm]`` float32 in [0, 1] and S records."""
    records = plan_batch([(f.shape[1], f.shape[0]) for f in frames], mode, target)
    images = np.empty((len(frames), 3, records[0].model_size[1], records[0].model_size[0]), dtype=np.float32)
    for out, frame, rec in zip(images, frames, records):
        render(frame, rec, out)
    return images, records


def _overlap(rec: PreprocessRecord) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """(rows, cols) slices of the resized image and of the canvas where they coincide."""
    (rw, rh), (ox, oy), (mw, mh) = rec.resized_size, rec.offset, rec.model_size
    rows = (max(0, -oy), min(rh, mh - oy)), (max(0, oy), min(mh, oy + rh))
    cols = (max(0, -ox), min(rw, mw - ox)), (max(0, ox), min(mw, ox + rw))
    return (slice(*rows[0]), slice(*cols[0])), (slice(*rows[1]), slice(*cols[1]))


def valid_mask(rec: PreprocessRecord) -> np.ndarray:
    """``[Hm, Wm]`` bool: True where a model pixel shows the frame, False in padding."""
    mask = np.zeros(rec.model_size[::-1], dtype=bool)
    mask[_overlap(rec)[1]] = True
    return mask


def intrinsics_to_original(k_model: np.ndarray, records: Sequence[PreprocessRecord]) -> np.ndarray:
    """Model-pixel intrinsics ``[S, 3, 3]`` -> original-pixel intrinsics ``[S, 3, 3]`` (float64).

    With ``u_model = sx * u_orig + ox`` (and likewise v): ``K_orig = A^-1 K_model``, i.e. the first row
    divided by sx after subtracting ox from cx, the second by sy after subtracting oy from cy.
    Written element-wise so a degenerate (infinite) focal stays infinite instead of turning into NaN.
    """
    k = np.array(k_model, dtype=np.float64)
    for ki, rec in zip(k, records):
        (sx, sy), (ox, oy) = rec.scale, rec.offset
        ki[0, 2] -= ox
        ki[1, 2] -= oy
        ki[0] /= sx
        ki[1] /= sy
    return k


def intrinsics_to_model(k_orig: np.ndarray, records: Sequence[PreprocessRecord]) -> np.ndarray:
    """Inverse of ``intrinsics_to_original``: ``K_model = A K_orig`` ``[S, 3, 3]`` (float64)."""
    k = np.array(k_orig, dtype=np.float64)
    for ki, rec in zip(k, records):
        (sx, sy), (ox, oy) = rec.scale, rec.offset
        ki[0] *= sx
        ki[1] *= sy
        ki[0, 2] += ox
        ki[1, 2] += oy
    return k


def pixels_to_original(uv: np.ndarray, rec: PreprocessRecord) -> np.ndarray:
    """Continuous model-pixel coordinates ``[..., 2]`` -> original-pixel coordinates ``[..., 2]``."""
    sx, sy = rec.scale
    uv = np.asarray(uv, np.float64)
    return np.stack([(uv[..., 0] - rec.offset[0]) / sx, (uv[..., 1] - rec.offset[1]) / sy], axis=-1)


def pixels_to_model(uv: np.ndarray, rec: PreprocessRecord) -> np.ndarray:
    """Continuous original-pixel coordinates ``[..., 2]`` -> model-pixel coordinates ``[..., 2]``."""
    sx, sy = rec.scale
    uv = np.asarray(uv, np.float64)
    return np.stack([uv[..., 0] * sx + rec.offset[0], uv[..., 1] * sy + rec.offset[1]], axis=-1)
