"""The camera solve in a Movie Clip: its tracks as tracking markers, its lens on the clip's tracking camera.

An artist can then inspect the tracks, delete bad ones and re-solve with Blender's own camera solver.
Marker positions are Blender's: normalised to the frame, origin bottom-left, so a solve pixel ``(u, v)``
(continuous, origin top-left, see ``vggt_core.reconstruction``) becomes ``(u / W, 1 - v / H)``. Markers are
keyed on clip frames (scene frame - ``clip.frame_start`` + 1). Blender shows source frame ``i`` (0-based movie
frame, or file number - the clip file's number for an image sequence) at scene frame
``frame_start + i - frame_offset``, so frame i is clip frame ``i + 1 - clip.frame_offset``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import bpy
import numpy as np

from ..convert import PlateSettings, sequence_plate_anchor
from .datablocks import Ledger, load_clip

if TYPE_CHECKING:
    from vggt_core import Reconstruction

_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")  # name = head, frame number, tail (Blender's sequence split)


def sequence_numbers(paths: Sequence[str]) -> list[int] | None:
    """The file numbers of ``paths`` when Blender can play them as one image sequence loaded from ``paths[0]``
    (same folder, same name around the number, the first file's zero padding), else None."""
    first = _NUMBERED.match(os.path.basename(paths[0])) if paths else None
    if first is None:
        return None
    head, digits, tail = first.groups()
    folder = os.path.dirname(os.path.abspath(paths[0]))
    nums = []
    for p in paths:
        m = _NUMBERED.match(os.path.basename(p))
        if m is None or os.path.join(folder, f"{head}{int(m[2]):0{len(digits)}d}{tail}") != os.path.abspath(p):
            return None
        nums.append(int(m[2]))
    return nums


def clip_frames(recon: "Reconstruction", clip: bpy.types.MovieClip) -> np.ndarray:
    """[S] clip frame of each reconstructed frame (an image-sequence clip must hold the frames' files)."""
    if clip.source == "SEQUENCE":
        first = sequence_numbers([bpy.path.abspath(clip.filepath)])[0]
        source = [n - first for n in sequence_numbers([f.source for f in recon.frames])]
    else:
        source = [f.index for f in recon.frames]
    return np.array(source, dtype=np.int64) + 1 - clip.frame_offset


def _own_clip(ledger: Ledger, clip: bpy.types.MovieClip | None) -> bpy.types.MovieClip | None:
    """``clip`` when this import made it; else (the artist's clip, or another import's) a clip of our own of
    the same file, playing at the same frames, so their tracks and tracking camera are never touched."""
    if clip is None or ledger.owns(clip):
        return clip
    ours = load_clip(ledger, bpy.path.abspath(clip.filepath), reuse=False)
    if ours is not None:
        ours.frame_start, ours.frame_offset = clip.frame_start, clip.frame_offset
    return ours


def plate_clip(
    ledger: Ledger, recon: "Reconstruction", plate: PlateSettings | None, background: bpy.types.MovieClip | None,
    timeline: np.ndarray, name: str,
) -> bpy.types.MovieClip | None:
    """A Movie Clip of the plate that this import owns, for markers and the solved lens: ``background`` (the
    animated camera's clip) when there is one; else a clip of the frames' movie (a movie strip's or clip's
    file); else, for stills that form one numbered sequence (an image folder or strip), an image-sequence clip
    loaded from the first frame's file and, when the files play one per timeline frame, starting at the first
    frame's timeline frame. A clip the artist already has is never written to: a new clip of its file, named
    "<name> plate" and playing at the artist's clip's frames, takes its place. None when there is no such
    plate (e.g. photos that are not numbered)."""
    if background is not None:
        clip = background
    elif plate is not None and plate.movie:
        clip = load_clip(ledger, plate.movie)
    elif all(f.timestamp is not None for f in recon.frames) and len({f.source for f in recon.frames}) == 1:
        clip = load_clip(ledger, recon.frames[0].source)
    else:
        paths = [f.source for f in recon.frames]
        if any(f.timestamp is not None for f in recon.frames) or sequence_numbers(paths) is None:
            return None
        clip = load_clip(ledger, paths[0], reuse=False)
        if clip is not None:
            anchor = sequence_plate_anchor(paths, timeline)
            if anchor is not None:
                clip.frame_start, clip.frame_offset = anchor[0], 0
    clip = _own_clip(ledger, clip)
    if clip is not None and clip != background:
        clip.name = f"{name} plate"
    return clip


MOVING_COLOR = (1.0, 0.15, 0.1)  # rejected (moving) tracks are drawn red, so the artist sees what was thrown out


def build_track_markers(clip: bpy.types.MovieClip, recon: "Reconstruction", prefix: str = "VGGT") -> int:
    """One track per solved point (``recon.sparse_*``) named ``"<prefix> <n>"``, a marker at each of its inlier
    observations, and a disabled marker on the frame after each run of observations (so a track does not hold
    its last position through frames where it was not seen). Returns the number of tracks made."""
    if recon.sparse_points is None:
        raise ValueError("the reconstruction has no solved tracks (run with bundle adjustment)")
    return _add_tracks(clip, recon, np.asarray(recon.sparse_obs, np.int64),
                       np.asarray(recon.sparse_uv, np.float64), f"{prefix} ", None)


def build_moving_markers(clip: bpy.types.MovieClip, recon: "Reconstruction", prefix: str = "VGGT") -> int:
    """One red track (custom colour ``MOVING_COLOR``) named ``"<prefix> moving <n>"`` per track the solve
    rejected as moving (``recon.moving_tracks``, n = its track column), with a marker wherever the track head
    saw it (``vggt_core.solve.tracks.observations``). Returns the number of tracks made (0 without any)."""
    from vggt_core.solve import observations

    if recon.moving_tracks is None or not len(recon.moving_tracks):
        return 0
    uv, seen = observations(recon)
    cols = np.asarray(recon.moving_tracks, np.int64)
    frame, k = np.nonzero(seen[:, cols])
    obs = np.stack([frame, cols[k]], axis=1)
    return _add_tracks(clip, recon, obs, uv[frame, cols[k]], f"{prefix} moving ", MOVING_COLOR)


def _add_tracks(clip, recon, obs: np.ndarray, uv: np.ndarray, name: str, color) -> int:
    """Tracks from observations ``obs`` [M, 2] (frame, track id) at plate pixels ``uv`` [M, 2]."""
    w, h = recon.frames[0].width, recon.frames[0].height
    frames = clip_frames(recon, clip)
    order = np.lexsort((obs[:, 0], obs[:, 1]))  # by point, then frame
    obs, uv = obs[order], uv[order]
    co = np.c_[uv[:, 0] / w, 1.0 - uv[:, 1] / h]
    starts = np.flatnonzero(np.r_[True, obs[1:, 1] != obs[:-1, 1]])
    tracks = clip.tracking.tracks
    for a, b in zip(starts, np.r_[starts[1:], len(obs)]):
        fr = frames[obs[a:b, 0]]
        track = tracks.new(name=f"{name}{obs[a, 1]}", frame=int(fr[0]))
        if color is not None:
            track.use_custom_color = True
            track.color = color
        for f, c in zip(fr.tolist(), co[a:b].tolist()):
            track.markers.insert_frame(f, co=c)
        for f in sorted(set((fr + 1).tolist()) - set(fr.tolist())):
            track.markers.insert_frame(f, co=track.markers.find_frame(f - 1).co[:]).mute = True
    return len(starts)


def apply_tracking_camera(clip: bpy.types.MovieClip, recon: "Reconstruction", sensor_width: float = 36.0) -> None:
    """Put the solved lens (one lens for the shot) on ``clip.tracking.camera``: focal length, centred principal
    point, square pixels and, when distortion was solved, Blender's polynomial model with COLMAP's ``k1, k2``
    (both distort normalised coordinates by ``1 + k1 r^2 + k2 r^4``), all from ``recon.lens``."""
    lens = recon.lens
    if lens is None or not lens.shared:
        raise ValueError("the tracking camera takes one lens for the shot (a shared or known lens)")
    cam = clip.tracking.camera
    w = recon.frames[0].width
    cam.sensor_width = sensor_width
    cam.pixel_aspect = 1.0
    cam.focal_length = float(recon.intrinsics[0, 0, 0]) * sensor_width / w  # mm
    cam.principal_point = (0.0, 0.0)  # normalised, centre of the frame: the solve keeps it there
    cam.distortion_model = "POLYNOMIAL"
    cam.k1, cam.k2, cam.k3 = *lens.distortion[0], 0.0
