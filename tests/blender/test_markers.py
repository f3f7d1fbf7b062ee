"""Solved tracks as Movie Clip markers (right frames, right pixels, bottom-left normalised), and the solved
lens, distortion included, on the clip's tracking camera. Real bpy."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from solve_shots import make_shot, shot_recon  # noqa: E402
from vggt_blender.builders.markers import apply_tracking_camera, build_track_markers  # noqa: E402
from vggt_core.solve import solve  # noqa: E402


@pytest.fixture()
def clip(tmp_path):
    from ext_helpers import write_video

    pytest.importorskip("av", reason="PyAV encodes the test video")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.data.movieclips.load(str(write_video(tmp_path / "plate.mp4", [5 * i for i in range(12)], (64, 36))))


def test_markers_land_on_their_frames_and_pixels(clip):
    shot = make_shot("orbit", frames=6, tracks=40, size=(64, 36), focal_px=48.0, noise_px=0.01, outliers=0.0)
    recon = solve(shot_recon(shot), lens="shared", refine="ba")
    # Every second movie frame was reconstructed: 0, 2, ..., 10.
    recon = replace(recon, frames=[replace(f, index=2 * i) for i, f in enumerate(recon.frames)])
    made = build_track_markers(clip, recon)
    assert made == len(recon.sparse_points) == len(clip.tracking.tracks)
    for (frame, point), (u, v) in zip(recon.sparse_obs[::7].tolist(), recon.sparse_uv[::7].tolist()):
        marker = clip.tracking.tracks[f"VGGT {point}"].markers.find_frame(2 * frame + 1, exact=True)
        assert marker is not None and not marker.mute
        np.testing.assert_allclose(marker.co[:], [u / 64, 1 - v / 36], atol=1e-6)
    # Between reconstructed frames a track is not observed: a disabled marker stops it holding position.
    track = clip.tracking.tracks[f"VGGT {recon.sparse_obs[0, 1]}"]
    assert track.markers.find_frame(2, exact=True).mute


def test_solved_distortion_goes_onto_the_tracking_camera(clip):
    shot = make_shot("orbit", frames=10, tracks=200, size=(640, 360), focal_px=500.0, outliers=0.0)
    xy = (shot.uv - shot.k[:2, 2]) / 500.0
    shot.uv = shot.k[:2, 2] + 500.0 * xy * (1 - 0.1 * np.sum(xy**2, axis=2, keepdims=True))
    recon = solve(shot_recon(shot), lens="shared", refine="ba", distortion="k1k2")
    apply_tracking_camera(clip, recon, sensor_width=36.0)
    cam = clip.tracking.camera
    assert cam.distortion_model == "POLYNOMIAL"
    assert (cam.k1, cam.k2) == pytest.approx((recon.solve["k1"], recon.solve["k2"]), abs=1e-6)
    assert cam.focal_length == pytest.approx(recon.intrinsics[0, 0, 0] * 36.0 / 640, rel=1e-5)
    assert cam.k1 == pytest.approx(-0.1, abs=0.02)


def test_import_puts_markers_and_lens_on_the_plates_clip(tmp_path):
    from ext_helpers import write_video

    from vggt_blender import convert
    from vggt_blender.builders import import_reconstruction

    pytest.importorskip("av", reason="PyAV encodes the test video")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    movie = str(write_video(tmp_path / "plate.mp4", [5 * i for i in range(8)], (64, 36)))
    shot = make_shot("orbit", frames=8, tracks=30, size=(64, 36), focal_px=48.0, noise_px=0.01, outliers=0.0)
    recon = solve(shot_recon(shot), lens="shared", refine="ba")
    recon = replace(recon, frames=[replace(f, source=movie) for f in recon.frames])
    settings = convert.ImportSettings(point_cloud=False, depth_proxies=False, track_markers=True)
    import_reconstruction(recon, settings, bpy.context.scene)
    clip = next(c for c in bpy.data.movieclips if len(c.tracking.tracks))
    assert len(clip.tracking.tracks) == len(recon.sparse_points)
    assert clip.tracking.camera.focal_length == pytest.approx(recon.intrinsics[0, 0, 0] * 36.0 / 64, rel=1e-5)
