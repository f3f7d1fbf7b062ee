"""Where reconstructed frames sit on the timeline and which footage plays behind the animated camera."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

# The plate's numbering is frame identity, shared with vggt_core's exports (COLMAP names, summary.json).
from vggt_core.plate import file_number, plate_frame_numbers, sequence_numbers

from .settings import ImportSettings, PlateSettings

if TYPE_CHECKING:  # the runtime path never needs these imported eagerly
    from vggt_core import FrameInfo


def default_plate(frames: Sequence["FrameInfo"]) -> PlateSettings | None:
    """The plate implied by the frames: one video file, or one numbered image sequence
    (``vggt_core.plate.sequence_numbers``); else None."""
    if frames and all(f.timestamp is not None for f in frames) and len({f.source for f in frames}) == 1:
        return PlateSettings(movie=frames[0].source)
    if sequence_numbers(frames) is not None:
        return PlateSettings(images=tuple(f.source for f in frames))
    return None


def timeline_frames(frames: Sequence["FrameInfo"], plate: PlateSettings | None, scene_frame_start: int,
                    start: int | None = None) -> np.ndarray:
    """[S] int timeline frame of each of ``frames`` (a run's or an import's): its plate frame number, by
    ``vggt_core.plate.plate_frame_numbers``, which the solve report and every export share.

    Explicit ``plate.timeline_frames`` (a strip's or clip's own timeline) win; then ``plate.frame_start``
    (source frame k at ``frame_start + k``); else the plate's own numbers: a numbered image sequence keys on
    its file numbers (``shot.1001.png`` -> 1001, a gap in the files kept), a movie or unnumbered photos put
    source frame k at ``scene_frame_start + k`` (so a strided selection lands on the plate's own frames).
    ``start`` (*Frame Numbers: Start At N*) then shifts them all so the first frame is N, keeping their
    spacing. Raises ValueError when ``plate.timeline_frames`` does not hold one frame per frame.
    """
    timeline = None
    if plate is not None and plate.timeline_frames is not None:
        timeline = plate.timeline_frames
    elif plate is not None and plate.frame_start is not None and (plate.movie or plate.images):
        timeline = [plate.frame_start + f.index for f in frames]
    return plate_frame_numbers(frames, start, first=scene_frame_start, timeline=timeline)


def import_timeline(frames: Sequence["FrameInfo"], settings: ImportSettings,
                    scene_frame_start: int) -> tuple[PlateSettings | None, np.ndarray]:
    """``(plate, timeline)`` of an import of ``frames`` with ``settings``: the footage behind its animated camera
    (``settings.plate``, else ``default_plate``) and the [S] int frame each frame is keyed on, which every export
    and the solve report use (``timeline_frames`` with *Start At*). The worker numbers the report with it before
    the import exists, the importer keys the camera with it."""
    plate = settings.plate if settings.plate is not None else default_plate(frames)
    return plate, timeline_frames(frames, plate, scene_frame_start, settings.frame_start_at)


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
