"""The undistorted plate behind the animated camera, and the overscan camera that sees it (no bpy).

With solved distortion the animated camera is the pinhole camera of the lens package
(``vggt_core.deliver.lens_package``) on its overscan canvas: the render resolution is the canvas ``Wo x Ho`` and the
sensor is enlarged by ``Wo / W`` (focal length in mm unchanged), so CG rendered through it covers every
undistorted plate pixel and redistorts (``stmap_redistort.exr``) without black edges. Its background is the
plate undistorted onto that canvas, one file per plate frame from the first reconstructed frame to the last
(interpolated frames too), named by the timeline frame it shows at.

The files go into a folder named after the lens and the plate frames, their files' sizes and mtimes included
(``UndistortedPlate.folder``): the same solve of the same plate finds them already written, and a different one,
or a plate delivered again under the same names, never finds nor overwrites them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .cameras import BlenderCamera, opencv_to_blender_camera
from .settings import ImportSettings
from .timeline import import_timeline, movie_plate_start, sequence_plate_anchor

if TYPE_CHECKING:
    from collections.abc import Callable

    from vggt_core import ShotLens
    from vggt_core import FrameInfo, Reconstruction

PLATE_FOLDER = re.compile(r"undistorted_[0-9a-f]{12}")  # the folders ``undistorted_plate`` names
_sizes: dict[str, tuple[int, int]] = {}  # plate folder -> (its mtime_ns, bytes of its files), for ``plates_usage``


@dataclass(frozen=True)
class UndistortedPlate:
    """Which plate frames to undistort, where, and on which timeline frames.

    folder: absolute folder of the files. frames: ``FrameInfo`` of every plate frame from the first
    reconstructed one to the last (a numbered sequence's dropped files left out). numbers: [F] the timeline
    frame each shows at (the import's plate frame numbers; the file's number). lens: the shot's lens (a zoom's
    per frame, ``ShotLens.at``: each file is undistorted with its frame's focal).
    """

    folder: str
    frames: tuple["FrameInfo", ...]
    numbers: tuple[int, ...]
    lens: "ShotLens"

    def write(self, progress: "Callable[[float], None] | None" = None) -> None:
        """Write the files not written yet (``vggt_core.deliver.lens_package.write_undistorted_plate``); progress:
        the fraction done (0..1)."""
        from vggt_core import write_undistorted_plate

        write_undistorted_plate(self.folder, self.frames, self.lens, self.numbers, progress, keep_existing=True)


def undistorted_plate(recon: "Reconstruction", settings: ImportSettings, scene_frame_start: int,
                      folder_root: str) -> UndistortedPlate | None:
    """The undistorted plate of ``recon``'s import with ``settings`` (as ``import_reconstruction`` keys it,
    ``scene_frame_start`` being the scene's first frame), in a folder under ``folder_root``.

    None when there is nothing to undistort: ``settings.undistorted_plate`` off, no solved distortion (a
    pinhole lens), no animated camera, or no plate that plays one source frame per timeline frame (a movie or
    a numbered image sequence, as the plate background needs). Raises InputError (one line) when the plate's
    movie is gone.
    """
    from vggt_core import shot_lens
    from vggt_core.run import cache

    if not (settings.undistorted_plate and settings.animated_camera) or not folder_root:
        return None
    plate, timeline = import_timeline(recon.frames, settings, scene_frame_start)
    if plate is None:
        return None
    lens = shot_lens(recon, timeline)
    if lens.model == "PINHOLE":
        return None
    frames = recon.frames
    if plate.movie:
        start = movie_plate_start(frames, timeline)
        if start is None:
            return None
        lo, hi = min(f.index for f in frames), max(f.index for f in frames)
        t0, i0 = frames[0].timestamp, frames[0].index
        step = next(((f.timestamp - t0) / (f.index - i0) for f in frames if f.index != i0), 0.0)
        span = [(replace(frames[0], index=i, timestamp=t0 + (i - i0) * step), start + i) for i in range(lo, hi + 1)]
    else:
        paths = [f.source for f in frames]
        anchor = sequence_plate_anchor(paths, timeline)
        if anchor is None:
            return None
        span = _sequence_span(paths, anchor, frames[0])
    body = json.dumps({"lens": lens.to_dict(), "frames": [[f.source, f.index] for f, _ in span],
                       "numbers": [n for _, n in span], "files": cache.file_stamps(f.source for f, _ in span)},
                      sort_keys=True)
    name = f"undistorted_{hashlib.sha256(body.encode()).hexdigest()[:12]}"  # PLATE_FOLDER
    return UndistortedPlate(os.path.join(os.path.abspath(folder_root), name), tuple(f for f, _ in span),
                            tuple(int(n) for _, n in span), lens)


def _plate_folders(root: str) -> list[os.DirEntry]:
    try:
        with os.scandir(root) as it:
            return [e for e in it if PLATE_FOLDER.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def plates_usage(root: str) -> tuple[int, int]:
    """(undistorted plates, bytes their files take) in ``root`` (``undistorted_plate``'s ``folder_root``).

    A folder's total is remembered until its mtime changes (a file written, replaced or removed in it), so
    a panel that asks on every redraw does not stat thousands of 4K frames each time.
    """
    total = 0
    folders = _plate_folders(root)
    for folder in folders:
        stamp = folder.stat(follow_symlinks=False).st_mtime_ns
        known = _sizes.get(folder.path)
        if known is None or known[0] != stamp:
            with os.scandir(folder.path) as it:
                size = sum(e.stat(follow_symlinks=False).st_size for e in it if e.is_file(follow_symlinks=False))
            known = _sizes[folder.path] = (stamp, size)
        total += known[1]
    return len(folders), total


def clear_plates(root: str) -> tuple[int, int]:
    """Delete the undistorted plates in ``root`` (other files stay), then ``root`` if it is empty.
    Returns (plates removed, bytes freed)."""
    count, size = plates_usage(root)
    for folder in _plate_folders(root):
        shutil.rmtree(folder.path, ignore_errors=True)
        _sizes.pop(folder.path, None)
    try:
        os.rmdir(root)
    except OSError:  # absent, or holds someone else's files
        pass
    return count, size


def _sequence_span(paths: list[str], anchor: tuple[int, int], like: "FrameInfo") -> list[tuple["FrameInfo", int]]:
    """(FrameInfo, timeline frame) of every file of the numbered sequence between the first and last of
    ``paths`` (same folder, name and padding; files that do not exist, dropped frames, are left out: the
    files after a gap keep their numbers and their positions in the folder, ``FrameInfo.index``)."""
    from vggt_core.plate import file_number, number_parts

    head, digits, tail = number_parts(paths[0])
    numbers = [file_number(p) for p in paths]
    t0, n0 = anchor
    span = []
    for n in range(min(numbers), max(numbers) + 1):
        path = f"{head}{n:0{len(digits)}d}{tail}"
        if os.path.isfile(path):
            span.append((replace(like, source=path, index=like.index + len(span)), t0 + n - n0))
    return span


def overscan_camera(cam: BlenderCamera, intrinsic: np.ndarray, extrinsic: np.ndarray,
                    canvas: tuple[int, int]) -> BlenderCamera:
    """``cam`` (a plate camera, ``opencv_to_blender_camera``) on the overscan canvas ``(Wo, Ho)`` pixels (the
    lens package's ``overscan_size()``): the principal point moved with the plate to the canvas centre, the
    sensor enlarged by ``Wo / W``. intrinsic [3, 3] / extrinsic [3, 4]: the frame's K (plate pixels) and
    camera-from-world."""
    wo, ho = canvas
    w, h = cam.resolution
    k = np.array(intrinsic, dtype=np.float64)
    k[0, 2] += (wo - w) / 2
    k[1, 2] += (ho - h) / 2
    return opencv_to_blender_camera(k, extrinsic, wo, ho, cam.sensor_width * wo / w, (cam.clip_start, cam.clip_end))
