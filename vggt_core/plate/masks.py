"""Masks of what moves: one bool array per reconstructed frame, at plate resolution, True = keep out.

Masks reach ``vggt_core`` as arrays (Blender rasterises its Mask datablocks on the main thread) or as matte
files read here: a folder of images numbered like the plate, or a movie. Pixel convention: continuous plate
coordinates, the image spans ``[0, W] x [0, H]``, pixel ``(i, j)`` (column, row) covers ``[i, i + 1) x
[j, j + 1)`` with its centre at ``(i + 0.5, j + 0.5)`` (``reconstruction.py``), so a point ``(u, v)`` lies in
mask pixel ``(floor(u), floor(v))``.

Frame matching is by frame number, never by position, so a plate starting at 1001 or with dropped frames
lines up:

* matte **folder**, image plate: the matte whose file name ends in the same number as the plate image's
  (``frame_numbers.file_number``, the last digit run of the name: ``plate.1001.exr`` <-> ``matte_1001.png``);
* matte **folder**, video plate: the movie's frame ``n`` (0-based, ``vggt_core.plate.video``) <-> the folder's
  ``first + n``, the folder's first image being the movie's first frame;
* matte **movie**: movie frame ``n`` (numbered as ``vggt_core.plate.video`` numbers them) <-> the plate's frame
  ``FrameInfo.index`` (a video plate's frame number, an image plate's position in its sorted folder).

A matte pixel excludes when its alpha (if the file has one) or else its luminance is above one half;
``invert`` swaps that.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from .frame_numbers import file_number
from .frames import IMAGE_EXTENSIONS, natural_key
from ..reconstruction import FrameInfo, PreprocessRecord

Masks = Sequence[np.ndarray | None]  # per reconstructed frame: [H, W] bool plate pixels (True = exclude), or None

def load_mattes(path: str | Path, frames: Sequence[FrameInfo], invert: bool = False) -> list[np.ndarray]:
    """Masks ``[H, W]`` bool (True = exclude) for each of ``frames``, read from a matte folder or movie.

    Raises InputError (one line) when the path is missing, a plate frame has no matte, or a matte's size is not
    its plate frame's size.
    """
    path = Path(path)
    files = matte_files(path, frames)
    mattes = [read_matte(f) for f in files] if path.is_dir() else _movie_mattes(path, [f.index for f in frames])
    out = []
    for f, m in zip(frames, mattes):
        if m.shape != (f.height, f.width):
            raise InputError(f"mask {path} is {m.shape[1]}x{m.shape[0]}, the plate {f.width}x{f.height}: "
                             "render the matte at plate resolution")
        out.append(m != invert)
    return out


def matte_files(path: str | Path, frames: Sequence[FrameInfo]) -> list[Path]:
    """The files ``load_mattes`` reads for ``frames``: a folder's matte for each frame, in order, or the movie.

    Cheap (no pixel is read): cache keys stamp these files, so a matte re-rendered under the same name re-solves.
    Raises InputError (one line) when the path is missing or a plate frame has no matte.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"mask not found: {path}")
    if not path.is_dir():
        return [path]
    by_number = _numbered_images(path)
    wanted = [_folder_number(f, min(by_number)) for f in frames]
    missing = [n for n in wanted if n not in by_number]
    if missing:
        raise InputError(f"mask folder {path} has no matte numbered {missing[0]} "
                         f"({len(missing)} plate frames without a matte)")
    return [by_number[n] for n in wanted]


def _numbered_images(folder: Path) -> dict[int, Path]:
    found = sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                    and p.suffix.lower() in IMAGE_EXTENSIONS), key=lambda p: natural_key(p.name))
    by_number = {n: p for p in found if (n := file_number(str(p))) is not None}
    if not by_number:
        raise InputError(f"no numbered matte images in {folder}")
    return by_number


def _folder_number(frame: FrameInfo, first: int) -> int:
    if frame.timestamp is None:  # an image plate: its own file number
        n = file_number(frame.source)
        if n is None:
            raise InputError(f"plate image {frame.source} has no frame number to match a matte folder by")
        return n
    return first + frame.index


def read_matte(path: str | Path) -> np.ndarray:
    """One matte image as ``[H, W]`` bool: alpha (if any) else Rec.709 luminance, above 0.5."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise InputError(f"cannot read mask image {path}: {oiio.geterror().strip() or 'unreadable file'}")
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
    finally:
        inp.close()
    if pixels is None:
        raise InputError(f"cannot read mask image {path}")
    pixels = np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)
    return _matte_from_pixels(pixels, spec.alpha_channel)


def _matte_from_pixels(pixels: np.ndarray, alpha: int) -> np.ndarray:
    if alpha >= 0:
        return pixels[..., alpha] > 0.5
    if pixels.shape[2] >= 3:
        return pixels[..., :3] @ np.array([0.2126, 0.7152, 0.0722], np.float32) > 0.5
    return pixels[..., 0] > 0.5


def _movie_mattes(path: Path, numbers: Sequence[int]) -> list[np.ndarray]:
    from . import video

    decoded = dict(video.decode(str(path), sorted(set(numbers))))
    return [_matte_from_pixels(decoded[n].astype(np.float32) / 255.0, -1) for n in numbers]


def mask_observations(uv: np.ndarray, seen: np.ndarray, masks: Masks | None) -> np.ndarray:
    """``seen`` [S, N] with every observation ``uv`` [S, N, 2] (plate pixels, continuous) that lies in its
    frame's mask set False; frames whose mask is None keep theirs. Points outside the plate are left as they are.
    """
    if masks is None:
        return seen
    out = np.asarray(seen, bool).copy()
    for s, mask in enumerate(masks):
        if mask is None:
            continue
        h, w = mask.shape
        px = np.floor(uv[s]).astype(np.int64)
        inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
        hit = np.zeros(len(px), bool)
        hit[inside] = mask[px[inside, 1], px[inside, 0]]
        out[s] &= ~hit
    return out


def mask_to_model(mask: np.ndarray, record: PreprocessRecord) -> np.ndarray:
    """A plate mask [H0, W0] as a model-pixel mask [Hm, Wm] bool: a model pixel is masked when the plate pixel
    under its centre is (padding is never masked; ``Reconstruction.valid`` already drops it)."""
    sx, sy = record.scale
    wm, hm = record.model_size
    u = np.floor((np.arange(wm) + 0.5 - record.offset[0]) / sx).astype(np.int64)
    v = np.floor((np.arange(hm) + 0.5 - record.offset[1]) / sy).astype(np.int64)
    h0, w0 = mask.shape
    ok_u, ok_v = (u >= 0) & (u < w0), (v >= 0) & (v < h0)
    out = np.zeros((hm, wm), bool)
    out[np.ix_(ok_v, ok_u)] = mask[np.ix_(v[ok_v], u[ok_u])]
    return out


def mask_pixels(masks: Masks, records: Sequence[PreprocessRecord]) -> np.ndarray:
    """[S, Hm, Wm] bool model pixels under each frame's mask (``mask_to_model``; all False where it is None):
    they make no points and no proxy faces (``Reconstruction.masked``)."""
    return np.stack([np.zeros(r.model_size[::-1], bool) if m is None else mask_to_model(m, r)
                     for m, r in zip(masks, records)])


def digest(masks: Masks) -> str:
    """A short sha256 of mask arrays, for cache keys (arrays from Blender have no path to key on)."""
    h = hashlib.sha256()
    for m in masks:
        h.update(b"-" if m is None else np.packbits(np.asarray(m, bool)).tobytes() + repr(np.shape(m)).encode())
    return h.hexdigest()[:16]


def check_masks(masks: Masks, frames: Sequence[FrameInfo]) -> None:
    """InputError (one line) unless there is one mask (or None) per frame, each at its plate frame's size."""
    if len(masks) != len(frames):
        raise InputError(f"{len(masks)} masks for {len(frames)} frames: give one mask per reconstructed frame")
    for f, m in zip(frames, masks):
        if m is not None and np.shape(m) != (f.height, f.width):
            raise InputError(f"a mask is {np.shape(m)[1]}x{np.shape(m)[0]}, its frame {f.width}x{f.height}: "
                             "masks must be at plate resolution")
