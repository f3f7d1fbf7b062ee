"""Frame sources: an image folder, an explicit list of image files, or a video file.

``list_frames`` finds the frames a ``FrameSelection`` picks (cheap: image headers are not decoded, a video is
only demuxed), ``read_frames`` decodes them into ``H x W x 3`` uint8 sRGB arrays in the same order.
Every frame keeps its identity in a ``FrameInfo`` (source path, index in its source, timestamp, original
size after orientation), so results can be tied back to files, video frame numbers and Blender strips.
Images are read with Pillow, EXR and DPX with OpenImageIO (converted to display sRGB: ``_read_oiio``).

Indices: for an image folder or list, ``index`` is the position in the (natural-sorted) list; still images
have ``timestamp=None``.

Video frames: ``vggt_core.plate.video`` (numbered as Blender numbers movie frames).
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from . import video
from .colour import linear_to_srgb
from ..errors import Cancelled, InputError, one_line
from ..reconstruction import FrameInfo

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".exr", ".dpx")
# Read with OpenImageIO: Pillow reads neither.
OIIO_EXTENSIONS = (".exr", ".dpx")

PathLike = Union[str, os.PathLike]
Inputs = Union[PathLike, Sequence[PathLike]]


@dataclass(frozen=True)
class FrameSelection:
    """Which frames of a source to use.

    Applied in this order to the source's frame indices ``0..n-1``:

    * ``indices``: explicit source indices (kept in the given order; e.g. the frames under a Blender VSE
      strip). When given, ``start``/``end``/``stride``/``fps`` are ignored.
    * ``start``/``end``: the half-open range ``[start, end)`` (``end=None``: to the last frame).
    * ``fps``: videos only (ignored for images): resample the range to about ``fps`` frames per second of
      video time, taking the frame nearest each target time ``t_start + k / fps``.
    * ``stride``: keep every ``stride``-th of the frames so far.
    * ``max_frames``: at most this many, evenly spaced over the frames so far (first and last kept).
    """

    stride: int = 1
    start: int = 0
    end: int | None = None
    max_frames: int | None = None
    fps: float | None = None
    indices: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.indices is not None:
            # Lists/arrays from callers become a hashable, JSON-friendly tuple of ints.
            object.__setattr__(self, "indices", tuple(int(i) for i in self.indices))
        if self.stride < 1:
            raise InputError(f"frame stride must be >= 1, got {self.stride}")
        if self.start < 0:
            raise InputError(f"start frame must be >= 0, got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise InputError(f"end frame ({self.end}) must be greater than start frame ({self.start})")
        if self.max_frames is not None and self.max_frames < 1:
            raise InputError(f"max frames must be >= 1, got {self.max_frames}")
        if self.fps is not None and not self.fps > 0:
            raise InputError(f"target fps must be > 0, got {self.fps}")

    def pick(self, count: int, timestamps: Sequence[float] | None = None) -> list[int]:
        """Source indices selected from a source of ``count`` frames (``timestamps``: seconds, videos only)."""
        if self.indices is not None:
            bad = [i for i in self.indices if not 0 <= i < count]
            if bad:
                raise InputError(f"frame index {bad[0]} is out of range (the source has {count} frames)")
            picked = list(self.indices)
        else:
            picked = list(range(self.start, min(count, self.end) if self.end is not None else count))
            if self.fps is not None and timestamps is not None and picked:
                picked = _resample(picked, timestamps, self.fps)
            picked = picked[:: self.stride]
        if self.max_frames is not None and len(picked) > self.max_frames:
            picked = [picked[k] for k in _evenly_spaced(len(picked), self.max_frames)]
        return picked


def _evenly_spaced(n: int, m: int) -> list[int]:
    """``m < n`` distinct positions in ``0..n-1`` spread evenly, including both ends."""
    if m == 1:
        return [0]
    return [round(k * (n - 1) / (m - 1)) for k in range(m)]


def _resample(picked: list[int], timestamps: Sequence[float], fps: float) -> list[int]:
    """The frames of ``picked`` nearest to the times ``t0 + k / fps`` (duplicates dropped)."""
    times = np.asarray([timestamps[i] for i in picked], dtype=np.float64)
    targets = times[0] + np.arange(int(np.floor((times[-1] - times[0]) * fps + 1e-9)) + 1) / fps
    right = np.clip(np.searchsorted(times, targets), 1, len(times) - 1) if len(times) > 1 else np.zeros(1, int)
    left = np.maximum(right - 1, 0)
    nearest = np.where(np.abs(times[left] - targets) <= np.abs(times[right] - targets), left, right)
    return [picked[k] for k in dict.fromkeys(nearest.tolist())]


def natural_key(name: str) -> list:
    """Sort key ordering ``img2`` before ``img10`` (digit runs compare as numbers, text case-insensitively)."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def is_image_path(path: PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_frames(inputs: Inputs, selection: FrameSelection = FrameSelection()) -> list[FrameInfo]:
    """The frames ``selection`` picks from ``inputs``, in order.

    inputs: an image folder (non-recursive, hidden files skipped, natural sort), a video file, a single image,
        or a sequence of image files (kept in the given order). A one-element sequence acts like its element.
    Raises InputError for missing paths, folders without images, unreadable files and empty selections.
    """
    if isinstance(inputs, (str, os.PathLike)):
        paths = [Path(inputs)]
    else:
        paths = [Path(p) for p in inputs]
        if not paths:
            raise InputError("no input given: pass an image folder, a video file or image files")
    for p in paths:
        if not p.exists():
            raise InputError(f"input not found: {p}")

    if len(paths) == 1 and paths[0].is_dir():
        images = _folder_images(paths[0])
    elif len(paths) == 1 and not is_image_path(paths[0]):
        return _list_video(paths[0], selection)
    else:
        for p in paths:
            if p.is_dir() or not is_image_path(p):
                raise InputError(f"not an image file ({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)}): {p}")
        images = paths

    picked = selection.pick(len(images))
    if not picked:
        raise InputError(f"the frame selection picks no frames out of {len(images)} images")
    return [FrameInfo(str(images[i].resolve()), i, None, *_image_size(images[i])) for i in picked]


def _folder_images(folder: Path) -> list[Path]:
    found = [p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file() and is_image_path(p)]
    if not found:
        raise InputError(f"no images (jpg/png/tif/webp/bmp/exr/dpx) found in {folder}")
    return sorted(found, key=lambda p: natural_key(p.name))


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read from the header only."""
    from PIL import Image, UnidentifiedImageError

    if path.suffix.lower() in OIIO_EXTENSIONS:
        spec = _oiio_spec(path)
        return spec.width, spec.height

    try:
        with Image.open(path) as img:
            w, h = img.size
            # EXIF orientations 5-8 swap width and height (0x0112 is the Orientation tag).
            if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w
            return w, h
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(f"cannot read image {path}: {one_line(err)}") from None


def read_image(path: PathLike) -> np.ndarray:
    """One image as ``H x W x 3`` uint8 sRGB, EXIF orientation applied.

    Transparency is composited onto white (the original implementation does this for RGBA; here any mode
    with alpha gets the same treatment). 16 bits per channel become 8 by keeping the high byte (what Pillow
    itself does for 16-bit RGB); float greyscale is taken as [0, 1]. EXR and DPX: see ``_read_oiio``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if Path(path).suffix.lower() in OIIO_EXTENSIONS:
        return _read_oiio(Path(path))

    try:
        with Image.open(path) as img:
            img.load()  # decode now so truncated files fail here, with their name
            img = ImageOps.exif_transpose(img)
            return _to_rgb8(img)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise InputError(f"cannot read image {path}: {one_line(err)}") from None


def _to_rgb8(img) -> np.ndarray:
    from PIL import Image

    if img.mode.startswith("I"):
        # 16-bit greyscale ("I;16*", or "I" holding 0..65535): keep the high byte, as Pillow does for
        # 16-bit RGB, so grey and colour 16-bit files agree.
        gray = (np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode == "F":
        gray = np.clip(np.rint(np.asarray(img, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def _oiio_failed(path: Path, message: str) -> InputError:
    return InputError(f"cannot read image {path}: {(message.strip().splitlines() or ['unreadable file'])[0]}")


def _oiio_spec(path: Path):
    """The ``ImageSpec`` of an EXR/DPX file (header only; sizes are the data window's)."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise _oiio_failed(path, oiio.geterror())
    spec = inp.spec()
    inp.close()
    return spec


def _read_oiio(path: Path) -> np.ndarray:
    """An EXR or DPX image (first subimage, data window) as ``H x W x 3`` uint8 display sRGB.

    Scene-linear pixels (float data, as in every EXR, or a DPX whose header says linear) are treated as
    linear Rec.709: composited over white (premultiplied alpha, EXR's convention), clipped to [0, 1] and
    encoded with the sRGB transfer function, i.e. what Blender shows with its "Standard" view transform.
    Integer data in any other transfer (video, log, unspecified) is taken as display-ready code values and
    only scaled to 8 bits (a log plate looks flat, which the geometry does not mind).
    """
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise _oiio_failed(path, oiio.geterror())
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
        if pixels is None:
            raise _oiio_failed(path, inp.geterror())
    finally:
        inp.close()
    pixels = np.nan_to_num(np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels))
    rgb = pixels[..., [0, 1, 2] if spec.nchannels >= 3 else [0, 0, 0]]
    if spec.alpha_channel >= 0:
        rgb = rgb + (1.0 - pixels[..., spec.alpha_channel, None])
    rgb = np.clip(rgb, 0.0, 1.0)
    linear = spec.format.basetype in (oiio.HALF, oiio.FLOAT, oiio.DOUBLE) or spec.get_string_attribute(
        "oiio:ColorSpace"
    ).lower().startswith("lin")
    if linear:
        rgb = linear_to_srgb(rgb)
    return np.rint(rgb * 255.0).astype(np.uint8)


def _list_video(path: Path, selection: FrameSelection) -> list[FrameInfo]:
    """Every Blender frame number of the video, its time ``n / rate``, and the size after rotation."""
    timing = video.read_timing(path)
    width, height = timing.size
    times = (np.arange(len(timing.shown)) / float(timing.rate)).tolist()
    picked = selection.pick(len(times), times)
    if not picked:
        raise InputError(f"the frame selection picks no frames out of {len(times)} video frames")
    return [FrameInfo(str(path.resolve()), i, times[i], width, height) for i in picked]


def iter_frames(
    infos: Sequence[FrameInfo],
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``infos`` (from ``list_frames``), yielding ``(position in infos, H x W x 3 uint8)``.

    Images come in order, then each video's frames in decoding order (each video decoded once, however
    many frames are taken from it; a frame listed twice is yielded for both positions).
    progress: called with the fraction of frames read so far (0..1).
    cancel: polled before the first and after every frame; when it returns True, ``Cancelled`` is raised.
    Raises InputError when a frame cannot be decoded or no longer has its listed size.
    """
    done = 0

    def check(pos: int, frame: np.ndarray) -> tuple[int, np.ndarray]:
        nonlocal done
        info = infos[pos]
        if frame.shape[:2] != (info.height, info.width):
            raise InputError(
                f"frame {info.index} of {info.source} is {frame.shape[1]}x{frame.shape[0]}, "
                f"expected {info.width}x{info.height} (file changed since it was listed?)"
            )
        done += 1
        if progress is not None:
            progress(done / len(infos))
        return pos, frame

    def cancelled() -> None:
        if cancel is not None and cancel():
            raise Cancelled("cancelled while reading frames")

    cancelled()
    videos: dict[str, dict[int, list[int]]] = {}
    for pos, info in enumerate(infos):
        if info.timestamp is None:
            yield check(pos, read_image(info.source))
            cancelled()
        else:
            videos.setdefault(info.source, {}).setdefault(info.index, []).append(pos)
    for source, positions in videos.items():
        for idx, frame in video.decode(source, sorted(positions)):
            for pos in positions[idx]:
                yield check(pos, frame)
            cancelled()


def read_frames(
    infos: Sequence[FrameInfo],
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[np.ndarray]:
    """All frames of ``infos`` as ``H x W x 3`` uint8 arrays, in the order of ``infos`` (see ``iter_frames``)."""
    frames: list[np.ndarray] = [None] * len(infos)  # type: ignore[list-item]
    for pos, frame in iter_frames(infos, progress, cancel):
        frames[pos] = frame
    return frames
