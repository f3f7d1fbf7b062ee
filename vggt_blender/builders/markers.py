"""The camera solve in a Movie Clip: its tracks as tracking markers, its lens on the clip's tracking camera.

An artist can then inspect the tracks, delete bad ones and re-solve with Blender's own camera solver.
Marker positions are Blender's: normalised to the frame, origin bottom-left, so a solve pixel ``(u, v)``
(continuous, origin top-left, see ``vggt_core.reconstruction``) becomes ``(u / W, 1 - v / H)``. Markers are
keyed on clip frames: frame i of the reconstruction (``FrameInfo.index``: 0-based movie frame, or position
in the image sequence) is clip frame ``index + 1 - clip.frame_offset``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import bpy
import numpy as np

if TYPE_CHECKING:
    from vggt_core.reconstruction import Reconstruction


def clip_frames(recon: "Reconstruction", clip: bpy.types.MovieClip) -> np.ndarray:
    """[S] clip frame of each reconstructed frame."""
    return np.array([f.index + 1 - clip.frame_offset for f in recon.frames], dtype=np.int64)


def build_track_markers(clip: bpy.types.MovieClip, recon: "Reconstruction", prefix: str = "VGGT") -> int:
    """One track per solved point (``recon.sparse_*``) named ``"<prefix> <n>"``, a marker at each of its inlier
    observations, and a disabled marker on the frame after each run of observations (so a track does not hold
    its last position through frames where it was not seen). Returns the number of tracks made."""
    if recon.sparse_points is None:
        raise ValueError("the reconstruction has no solved tracks (run with bundle adjustment)")
    w, h = recon.frames[0].width, recon.frames[0].height
    frames = clip_frames(recon, clip)
    obs = np.asarray(recon.sparse_obs, np.int64)
    order = np.lexsort((obs[:, 0], obs[:, 1]))  # by point, then frame
    obs, uv = obs[order], np.asarray(recon.sparse_uv, np.float64)[order]
    co = np.c_[uv[:, 0] / w, 1.0 - uv[:, 1] / h]
    starts = np.flatnonzero(np.r_[True, obs[1:, 1] != obs[:-1, 1]])
    tracks = clip.tracking.tracks
    for a, b in zip(starts, np.r_[starts[1:], len(obs)]):
        fr = frames[obs[a:b, 0]]
        track = tracks.new(name=f"{prefix} {obs[a, 1]}", frame=int(fr[0]))
        for f, c in zip(fr.tolist(), co[a:b].tolist()):
            track.markers.insert_frame(f, co=c)
        for f in sorted(set((fr + 1).tolist()) - set(fr.tolist())):
            track.markers.insert_frame(f, co=track.markers.find_frame(f - 1).co[:]).mute = True
    return len(starts)


def apply_tracking_camera(clip: bpy.types.MovieClip, recon: "Reconstruction", sensor_width: float = 36.0) -> None:
    """Put the solved lens (one lens for the shot) on ``clip.tracking.camera``: focal length, centred principal
    point, square pixels and, when distortion was solved, Blender's polynomial model with COLMAP's ``k1, k2``
    (both distort normalised coordinates by ``1 + k1 r^2 + k2 r^4``)."""
    solve = recon.solve or {}
    if solve.get("lens") not in ("shared", "known"):
        raise ValueError("the tracking camera takes one lens for the shot (a shared or known lens)")
    cam = clip.tracking.camera
    w = recon.frames[0].width
    cam.sensor_width = sensor_width
    cam.pixel_aspect = 1.0
    cam.focal_length = float(recon.intrinsics[0, 0, 0]) * sensor_width / w  # mm
    cam.principal_point = (0.0, 0.0)  # normalised, centre of the frame: the solve keeps it there
    cam.distortion_model = "POLYNOMIAL"
    cam.k1, cam.k2, cam.k3 = float(solve.get("k1", 0.0)), float(solve.get("k2", 0.0)), 0.0
