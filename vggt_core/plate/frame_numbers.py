"""Plate frame numbers: the frame number every export gives each reconstructed frame (no bpy).

A matchmove delivery is keyed on the plate's own numbers, so a camera, a ``.chan`` or a COLMAP image of
``shot.1001.png`` is frame 1001, where the compositor's Read node shows that file. ``plate_frame_numbers``
works them out, once per run, for every consumer (the solve report, ``vggt-reconstruct``'s exports and
summary, the Blender import's timeline through ``vggt_blender.convert.timeline_frames``); matte folders match
plate files by ``file_number``. The rules, first that applies:

* explicit numbers, one per frame (``timeline``: a Blender strip's or movie clip's own timeline);
* a numbered image sequence (``sequence_numbers``: still images in one folder named ``<head><digits><tail>``
  with one head, one tail and one zero padding, the numbers strictly increasing in frame order): its file
  numbers, gaps and all (a stride, or files dropped or removed from the sequence);
* anything else (a movie, unnumbered photos): ``first + FrameInfo.index``, where ``first`` is the number of
  the source's frame 0 (1 by default: where Blender and Nuke put a movie's first frame).

*Start At N* (``start``) keeps the spacing of these numbers (a strided selection keeps its gaps) and
shifts them so the first reconstructed frame is frame N.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from ..reconstruction import FrameInfo

_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


def number_parts(path: str) -> tuple[str, str, str] | None:
    """``(head, digits, tail)`` of a path around its last run of digits (``/p/shot.1001.png`` ->
    ``("/p/shot.", "1001", ".png")``), None without one; ``head + f"{n:0{len(digits)}d}" + tail`` is file n."""
    m = _NUMBERED.match(path)
    return m.groups() if m else None


def file_number(path: str) -> int | None:
    """The last run of digits in a file's name (``shot_0042.png`` -> 42), None if there is none."""
    parts = number_parts(os.path.basename(path))
    return int(parts[1]) if parts else None


def _one_padding(digits: Sequence[str]) -> bool:
    """Whether every digit string is its number written with one zero padding (``%04d``: 0998, 0999, 1000,
    10000; none: 998, 999, 1000), so one ``head + %0Nd + tail`` pattern names every file."""
    width = max((len(d) for d in digits if len(d) > 1 and d[0] == "0"), default=1)
    return all(f"{int(d):0{width}d}" == d for d in digits)


def sequence_numbers(frames: Sequence[FrameInfo]) -> list[int] | None:
    """The file numbers of ``frames`` when they are still images of one numbered sequence, else None.

    One sequence: one folder, every name ``<head><digits><tail>`` with the same head and tail and one zero
    padding (``_one_padding``), the numbers strictly increasing in frame order. Gaps are kept: a dropped
    file does not renumber the frames after it.
    """
    if not frames or any(f.timestamp is not None for f in frames):
        return None
    if len({os.path.dirname(f.source) for f in frames}) != 1:
        return None
    parts = [number_parts(os.path.basename(f.source)) for f in frames]
    if any(p is None for p in parts) or len({(h, t) for h, _, t in parts}) != 1:
        return None
    digits = [d for _, d, _ in parts]
    numbers = [int(d) for d in digits]
    if not _one_padding(digits) or any(b <= a for a, b in zip(numbers, numbers[1:])):
        return None
    return numbers


def shift_to_start(numbers: np.ndarray, start: int | None) -> np.ndarray:
    """``numbers`` [S] int moved so the first is ``start`` (None: unchanged); spacing kept."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if start is None or not len(numbers):
        return numbers
    return numbers - numbers[0] + int(start)


def plate_frame_numbers(frames: Sequence[FrameInfo], start: int | None = None, first: int = 1,
                        timeline: Sequence[int] | None = None) -> np.ndarray:
    """[S] int frame number of each of ``frames`` (see the module docstring for the rules).

    timeline: explicit numbers, one per frame, that win over the plate's own (a Blender strip's timeline).
    first: the number of source frame 0 when the plate has no numbers of its own (movies, photos).
    start: *Start At N*; None keeps the plate's numbers.
    Raises ValueError when ``timeline`` does not hold one number per frame.
    """
    if timeline is not None:
        numbers = np.asarray(timeline, dtype=np.int64)
        if numbers.shape != (len(frames),):
            raise ValueError(f"{numbers.size} timeline frames for {len(frames)} frames")
    else:
        files = sequence_numbers(frames)
        numbers = np.asarray(files if files is not None else [first + f.index for f in frames], dtype=np.int64)
    return shift_to_start(numbers, start)


def interpolated_frames(numbers: Sequence[int]) -> list[int]:
    """The frames between the first and last of ``numbers`` that are not among them: where a camera keyed
    on ``numbers`` is interpolated, not reconstructed (e.g. after ``--stride``, ``--fps`` or ``--max-frames``)."""
    keyed = {int(n) for n in numbers}
    return [] if not keyed else sorted(set(range(min(keyed), max(keyed) + 1)) - keyed)
