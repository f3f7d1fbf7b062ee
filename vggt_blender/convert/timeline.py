"""Where reconstructed frames sit on the timeline and which footage plays behind the animated camera."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

# The plate's numbering is frame identity, shared with vggt_core's exports (COLMAP names, summary.json).
from vggt_core.plate import file_number, image_sequence_offset, shift_to_start

from .settings import PlateSettings

if TYPE_CHECKING:  # the runtime path never needs these imported eagerly
    from vggt_core import FrameInfo, Reconstruction

def default_plate(recon: "Reconstruction") -> PlateSettings | None:
    """The plate implied by the frames: one video file, or one numbered image sequence; else None."""
    fr = recon.frames
    if fr and all(f.timestamp is not None for f in fr) and len({f.source for f in fr}) == 1:
        return PlateSettings(movie=fr[0].source)
    if image_sequence_offset(fr) is not None:
        return PlateSettings(images=tuple(f.source for f in fr))
    return None


def timeline_frames(recon: "Reconstruction", plate: PlateSettings | None, scene_frame_start: int,
                    start: int | None = None) -> np.ndarray:
    """[S] int timeline frame of each reconstructed frame: the plate's frame numbers.

    Explicit ``plate.timeline_frames`` (a strip's or clip's own timeline) win; then ``plate.frame_start``
    (source frame k at ``frame_start + k``); a numbered image sequence keys on its file numbers
    (``shot.1001.png`` -> 1001); another plate (a movie) puts source frame k at ``scene_frame_start + k``
    (so a strided selection lands on the plate's own frames); without a plate frames are consecutive from
    ``scene_frame_start``. ``start`` (*Frame Numbers: Start At N*) then shifts them all so the first
    reconstructed frame is N, keeping their spacing.
    """
    s = recon.num_frames
    indices = np.asarray([f.index for f in recon.frames], dtype=np.int64)
    if plate is not None and plate.timeline_frames is not None:
        tl = np.asarray(plate.timeline_frames, dtype=np.int64)
        if tl.shape != (s,):
            raise ValueError(f"plate.timeline_frames has {tl.size} entries for {s} frames")
    elif plate is not None and plate.frame_start is not None and (plate.movie or plate.images):
        tl = plate.frame_start + indices
    elif plate is not None and plate.images and image_sequence_offset(recon.frames) is not None:
        tl = image_sequence_offset(recon.frames) + indices
    elif plate is not None and (plate.movie or plate.images):
        tl = scene_frame_start + indices
    else:
        tl = scene_frame_start + np.arange(s, dtype=np.int64)
    return shift_to_start(tl, start)


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
