"""Video files, read with PyAV.

Video frame numbers are Blender's movie frame numbers (the contract the Blender side relies on):

* frame ``n`` is the image Blender shows for movie frame ``n`` (a movie strip or clip without proxies or a
  timecode index): with ``rate`` = ffmpeg's guessed frame rate of the stream and ``t_n = start_time +
  round(n / (rate * time_base))`` (stream time-base units), the last decoded frame whose presentation
  timestamp is at or before ``t_n`` (the first frame when none is). A frame missing from the file (dropped
  frames, variable frame rate) therefore repeats the frame before it, and frames after a gap keep their
  numbers;
* the frame count is Blender's ``frame_duration`` of the movie: the stream's duration (else the container's)
  times ``rate``, rounded;
* ``timestamp`` is ``n / rate``: seconds since the stream start.

A stream without timestamps (a raw ``.h264``/``.hevc`` elementary stream, which Blender cannot play) is
numbered in decoding order instead, with every decoded frame counted.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError, one_line


def open_video(path: Path):
    """An open PyAV container of ``path`` that has a video stream (close it, e.g. with ``with``).
    Raises InputError (one line) for a file PyAV cannot open or one without video."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as err:
        raise InputError(f"cannot read video {path}: {one_line(err)} (unsupported or corrupt file?)") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"no video stream in {path}")
    return container


@dataclass(frozen=True)
class VideoTiming:
    """Blender's numbering of one video stream, read while its container is open.

    rate: frames per second (ffmpeg's ``av_guess_frame_rate``, as Blender uses).
    shown: ``shown[n]`` = position, in presentation order, of the decoded frame Blender shows as movie frame n.
    stamps: presentation timestamps (stream time base) of the decoded frames, sorted; None for a stream
        without timestamps (a raw elementary stream), whose frames are then numbered in decoding order.
    size: (width, height) of the first decoded frame shown upright (after its rotation).
    """

    rate: Fraction
    shown: np.ndarray
    stamps: list[int] | None
    size: tuple[int, int]


def _blender_round(x: np.ndarray) -> np.ndarray:
    """C ``round``/``lround`` (halves away from zero) for x >= 0, as Blender's frame arithmetic uses."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def _blender_frame_count(container, stream, rate: Fraction) -> int:
    """Blender's frame count of a movie (``ffmpeg_frame_count_get`` in Blender's movie reader).

    The stream's duration x frame rate; else the container's duration (less a video start offset past the
    first audio stream's) x frame rate; else the stream's frame count field.
    """
    if stream.duration is not None:
        return int(_blender_round(stream.duration * float(stream.time_base) * float(rate)))
    if container.duration is not None:
        video_start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        audio = container.streams.audio
        audio_start = float(audio[0].start_time * audio[0].time_base) if audio and audio[0].start_time else 0.0
        seconds = container.duration / 1_000_000 - max(0.0, video_start - audio_start)
        return int(_blender_round(seconds * float(rate)))
    return stream.frames


def _video_timing(container, path: Path) -> VideoTiming:
    """Demux the whole video stream (decoding only what is needed) and derive Blender's numbering.

    Blender (``ffmpeg_get_pts_to_search`` and ``ffmpeg_frame_by_pts_get``) shows as frame n the last decoded
    frame whose timestamp is at or before ``start_time + round(n / (rate * time_base))`` (the first frame when
    none is), and counts frames as ``_blender_frame_count`` does. So a frame dropped from the file repeats
    the frame before it, and variable frame rate footage is resampled to ``rate``.
    """
    stream = container.streams.video[0]
    rate = stream.guessed_rate or stream.average_rate or Fraction(24)
    stamps: list[int] = []
    untimed: bool | None = None  # decided by the first packet with data
    first, decoded = None, 0
    for packet in container.demux(stream):
        if packet.size and not packet.is_discard:
            stamp = packet.pts if packet.pts is not None else packet.dts
            if untimed is None:
                untimed = stamp is None
            if stamp is not None:
                stamps.append(stamp)
        if first is None or untimed:  # untimed streams are decoded through to count their frames
            frames = packet.decode()
            decoded += len(frames)
            if first is None and frames:
                first = frames[0]
    if first is None:
        raise InputError(f"no decodable frames in video {path}")
    size = (first.height, first.width) if quarter_turns(first) % 2 else (first.width, first.height)
    if untimed:
        return VideoTiming(rate, np.arange(decoded), None, size)
    stamps.sort()
    count = _blender_frame_count(container, stream, rate) or len(stamps)
    steps = 1.0 / float(rate * stream.time_base)  # stream time-base units per frame
    targets = (stream.start_time or 0) + _blender_round(np.arange(count) * steps)
    shown = np.maximum(np.searchsorted(stamps, targets, side="right") - 1, 0)
    return VideoTiming(rate, shown, stamps, size)


def read_timing(path: Path) -> VideoTiming:
    """Blender's numbering of ``path`` (``_video_timing``), remembered by (real path, size, mtime): listing
    frames and decoding each chunk of a shot demux the whole file only once."""
    try:
        st = os.stat(path)
        stamp = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = None  # open_video reports it
    return _read_timing(str(Path(path).resolve()), stamp)


@lru_cache(maxsize=16)
def _read_timing(path: str, stamp: tuple[int, int] | None) -> VideoTiming:  # stamp: part of the memo key only
    import av

    with open_video(Path(path)) as container:
        try:
            return _video_timing(container, Path(path))
        except av.FFmpegError as err:
            raise InputError(f"cannot read video {path}: {one_line(err)} (corrupt file?)") from None


def quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns that show the frame upright (from its display matrix)."""
    return int(round((frame.rotation or 0) / 90.0)) % 4


def _rgb(frame) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), quarter_turns(frame)))


# Decoding forward is cheaper than seeking for short gaps; beyond this many frames, seek instead.
SEEK_GAP = 120


def _decode_timed(
    container, stamps: list[int], wanted: Sequence[int], path: str
) -> Iterator[tuple[int, np.ndarray]]:
    """``(position, image)`` for the sorted, distinct presentation-order ``wanted`` positions.

    One decoding pass: seek to the first wanted frame (and across gaps longer than ``SEEK_GAP``), then decode
    forward. Frames are identified by their timestamps, so seeking to a keyframe before the target is harmless.
    """
    stream = container.streams.video[0]
    index_of = {s: i for i, s in enumerate(stamps)}
    k = 0
    while k < len(wanted):
        if k or wanted[0] > SEEK_GAP:  # a freshly opened file decodes from its start without seeking
            container.seek(stamps[wanted[k]], stream=stream, backward=True)
        resumed = False
        for frame in container.decode(stream):
            idx = index_of.get(frame.pts if frame.pts is not None else frame.dts, -1)
            if idx < wanted[k]:
                continue
            if idx > wanted[k]:
                break  # the wanted frame never came out of the decoder
            yield idx, _rgb(frame)
            k += 1
            if k == len(wanted) or wanted[k] - idx > SEEK_GAP:
                resumed = True
                break
        if not resumed:
            raise InputError(f"could not decode frame {wanted[k]} of video {path} (truncated or corrupt file?)")


def _decode_untimed(container, wanted: Sequence[int], path: str) -> Iterator[tuple[int, np.ndarray]]:
    """``(position, image)`` for the sorted, distinct decoding-order ``wanted`` positions (no seeking:
    streams without timestamps cannot seek)."""
    k = 0
    for idx, frame in enumerate(container.decode(container.streams.video[0])):
        if idx == wanted[k]:
            yield idx, _rgb(frame)
            k += 1
            if k == len(wanted):
                return
    raise InputError(f"could not decode frame {wanted[k]} of video {path} (truncated or corrupt file?)")


def decode(path: str, wanted: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(n, H x W x 3 uint8)`` for the distinct Blender frame numbers ``wanted`` of one video.

    Blender frames that show the same decoded frame (a dropped frame repeats the one before) are decoded
    once. The order is ascending by decoded frame.
    """
    import av

    timing = read_timing(Path(path))
    by_position: dict[int, list[int]] = {}
    for n in wanted:
        if not 0 <= n < len(timing.shown):
            raise InputError(f"frame {n} is out of range: {path} has {len(timing.shown)} frames (file changed?)")
        by_position.setdefault(int(timing.shown[n]), []).append(n)
    positions = sorted(by_position)
    with open_video(Path(path)) as container:
        container.streams.video[0].thread_type = "AUTO"
        try:
            if timing.stamps is None:
                decoded = _decode_untimed(container, positions, path)
            else:
                decoded = _decode_timed(container, timing.stamps, positions, path)
            for position, image in decoded:
                for n in by_position[position]:
                    yield n, image
        except av.FFmpegError as err:
            raise InputError(f"cannot read video {path}: {one_line(err)} (corrupt file?)") from None
