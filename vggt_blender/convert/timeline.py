"""Where reconstructed frames sit on the timeline and which footage plays behind the animated camera."""
from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .settings import PlateSettings

if TYPE_CHECKING:  # the runtime path never needs these imported eagerly
    from vggt_core.reconstruction import FrameInfo, Reconstruction

_TRAILING_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def file_number(path: str) -> int | None:
    """The last run of digits in a file's name (``shot_0042.png`` -> 42), None if there is none."""
    m = _TRAILING_NUMBER.search(os.path.basename(path))
    return int(m.group(1)) if m else None


def image_sequence_offset(frames: Sequence["FrameInfo"]) -> int | None:
    """``file_number - index`` when it is the same for every frame (a numbered image sequence).

    Blender shows sequence file number ``f - frame_start + 1 + frame_offset`` at timeline frame f, so
    with the plate starting at ``frame_start`` the image user's ``frame_offset`` is this value - 1.
    None when the frames are not all still images of one consistently numbered sequence.
    """
    if not frames or any(f.timestamp is not None for f in frames):
        return None
    dirs = {os.path.dirname(f.source) for f in frames}
    nums = [file_number(f.source) for f in frames]
    if len(dirs) != 1 or any(n is None for n in nums):
        return None
    offsets = {n - f.index for n, f in zip(nums, frames)}
    return offsets.pop() if len(offsets) == 1 else None


def default_plate(recon: "Reconstruction") -> PlateSettings | None:
    """The plate implied by the frames: one video file, or one numbered image sequence; else None."""
    fr = recon.frames
    if fr and all(f.timestamp is not None for f in fr) and len({f.source for f in fr}) == 1:
        return PlateSettings(movie=fr[0].source)
    if image_sequence_offset(fr) is not None:
        return PlateSettings(images=tuple(f.source for f in fr))
    return None


def timeline_frames(recon: "Reconstruction", plate: PlateSettings | None, scene_frame_start: int) -> np.ndarray:
    """[S] int timeline frame of each reconstructed frame.

    Explicit ``plate.timeline_frames`` win; with a plate, source frame k sits at ``frame_start + k``
    (so a strided selection lands on the plate's own frames); without one, frames are consecutive
    from ``scene_frame_start``.
    """
    s = recon.num_frames
    if plate is not None and plate.timeline_frames is not None:
        tl = np.asarray(plate.timeline_frames, dtype=np.int64)
        if tl.shape != (s,):
            raise ValueError(f"plate.timeline_frames has {tl.size} entries for {s} frames")
        return tl
    start = scene_frame_start if plate is None or plate.frame_start is None else plate.frame_start
    if plate is not None and (plate.movie or plate.images):
        return start + np.asarray([f.index for f in recon.frames], dtype=np.int64)
    return start + np.arange(s, dtype=np.int64)


def movie_plate_start(frames: Sequence["FrameInfo"], timeline: np.ndarray) -> int | None:
    """Timeline frame at which the movie's frame 0 must play so frame i (source ``index``) shows
    at ``timeline[i]``; None when no single offset fits (e.g. a reversed strip)."""
    starts = {int(t) - f.index for t, f in zip(timeline, frames)}
    return starts.pop() if len(starts) == 1 else None


def sequence_plate_anchor(paths: Sequence[str], timeline: np.ndarray) -> tuple[int, int] | None:
    """(timeline frame, file number) of the first of ``paths`` (one per reconstructed frame) when
    ``file number - timeline frame`` is the same for all of them (a numbered sequence played at
    1 file per frame); None otherwise. Blender's image user then needs ``frame_start`` = that
    timeline frame and ``frame_offset`` = file number - 1."""
    nums = [file_number(p) for p in paths]
    if not nums or any(n is None for n in nums) or len(nums) != len(timeline):
        return None
    if len({n - int(t) for n, t in zip(nums, timeline)}) != 1:
        return None
    return int(timeline[0]), int(nums[0])
