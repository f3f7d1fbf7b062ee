"""Plate frame numbers: the frame number every export gives each reconstructed frame (no bpy).

A matchmove delivery is keyed on the plate's own numbers, so a camera, a ``.chan`` or a COLMAP image of
``shot.1001.png`` is frame 1001, where the compositor's Read node shows that file:

* a numbered image sequence (one folder, ``file number - index`` the same for every frame): its file
  numbers;
* anything else (a movie, unnumbered photos): ``first + FrameInfo.index``, where ``first`` is the number
  of the source's frame 0 (1 by default: where Blender and Nuke put a movie's first frame).

*Start At N* (``start``) keeps the spacing of these numbers (a strided selection keeps its gaps) and
shifts them so the first reconstructed frame is frame N.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from ..reconstruction import FrameInfo

_TRAILING_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def file_number(path: str) -> int | None:
    """The last run of digits in a file's name (``shot_0042.png`` -> 42), None if there is none."""
    m = _TRAILING_NUMBER.search(os.path.basename(path))
    return int(m.group(1)) if m else None


def number_parts(path: str) -> tuple[str, str, str] | None:
    """``(head, digits, tail)`` of a path around its last run of digits (``/p/shot.1001.png`` ->
    ``("/p/shot.", "1001", ".png")``), None without one; ``head + f"{n:0{len(digits)}d}" + tail`` is file n."""
    m = re.match(r"^(.*?)(\d+)(\D*)$", path)
    return m.groups() if m else None


def image_sequence_offset(frames: Sequence[FrameInfo]) -> int | None:
    """``file_number - index`` when it is the same for every frame (still images of one numbered
    sequence in one folder), else None."""
    if not frames or any(f.timestamp is not None for f in frames):
        return None
    dirs = {os.path.dirname(f.source) for f in frames}
    nums = [file_number(f.source) for f in frames]
    if len(dirs) != 1 or any(n is None for n in nums):
        return None
    offsets = {n - f.index for n, f in zip(nums, frames)}
    return offsets.pop() if len(offsets) == 1 else None


def shift_to_start(numbers: np.ndarray, start: int | None) -> np.ndarray:
    """``numbers`` [S] int moved so the first is ``start`` (None: unchanged); spacing kept."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if start is None or not len(numbers):
        return numbers
    return numbers - numbers[0] + int(start)


def plate_frame_numbers(frames: Sequence[FrameInfo], start: int | None = None, first: int = 1) -> np.ndarray:
    """[S] int frame number of each of ``frames`` on the plate (see the module docstring).

    first: the number of source frame 0 when the plate has no numbers of its own (movies, photos).
    start: *Start At N*; None keeps the plate's numbers.
    """
    offset = image_sequence_offset(frames)
    base = first if offset is None else offset
    return shift_to_start(np.asarray([base + f.index for f in frames], dtype=np.int64), start)


def interpolated_frames(numbers: Sequence[int]) -> list[int]:
    """The frames between the first and last of ``numbers`` that are not among them: where a camera keyed
    on ``numbers`` is interpolated, not reconstructed (e.g. after ``--stride``, ``--fps`` or ``--max-frames``)."""
    keyed = {int(n) for n in numbers}
    return [] if not keyed else sorted(set(range(min(keyed), max(keyed) + 1)) - keyed)
