"""Datablock names: defaults from the source and Blender's name length limits."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # the runtime path never needs these imported eagerly
    from vggt_core import FrameInfo, Reconstruction


def default_name(recon: "Reconstruction") -> str:
    """A collection name from the source: the video's stem, else the images' folder name."""
    if not recon.frames:
        return "VGGT"
    srcs = {f.source for f in recon.frames}
    first = recon.frames[0].source
    if len(srcs) == 1:
        stem = os.path.splitext(os.path.basename(first))[0]
    else:
        stem = os.path.basename(os.path.dirname(os.path.abspath(first)))
    return f"VGGT {stem}" if stem else "VGGT"


#: Bytes an import keeps free after its collection name, for what builders append to it (" proxy 0012",
#: " camera" + "Action") and Blender's own ".001" when the name is taken.
NAME_SUFFIX_ROOM = 20


def max_name_bytes(blender_version: Sequence[int]) -> int:
    """Longest datablock name, in UTF-8 bytes, of a Blender version: 63 before 5.0, 255 from 5.0 on."""
    return 255 if tuple(blender_version[:2]) >= (5, 0) else 63


def safe_name(base: str, suffix: str = "", limit: int = 63) -> str:
    """``base + suffix`` in at most ``limit`` UTF-8 bytes: ``base`` is cut on a character boundary and
    ``suffix`` kept whole. (Blender cuts a long name itself, suffix first, so every child "<base> ..."
    of a long base would collapse into the same name plus ".001", ".002"...)"""
    room = max(limit - len(suffix.encode("utf-8")), 0)
    return base.encode("utf-8")[:room].decode("utf-8", "ignore") + suffix


def frame_labels(frames: Sequence["FrameInfo"]) -> list[str]:
    """A short label per frame for camera names, after its source frame: the file's number for
    numbered stills (``shot_0042.png`` -> "0042"), the frame number for video frames; the position
    in the list (4 digits) when those would not be distinct."""
    from vggt_core.plate import file_number

    nums = [f.index if f.timestamp is not None else file_number(f.source) for f in frames]
    if any(n is None for n in nums) or len(set(nums)) != len(nums):
        nums = list(range(len(frames)))
    return [f"{n:04d}" for n in nums]
