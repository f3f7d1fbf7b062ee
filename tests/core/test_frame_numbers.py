"""Plate frame numbers (``vggt_core.plate.frame_numbers``) and where they reach: the importer's timeline
(``convert.timeline_frames``), COLMAP image names and ``vggt-reconstruct``'s summary.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pure_convert import load_convert  # noqa: E402
from synth_recon import make_recon  # noqa: E402
from vggt_core.deliver.colmap import image_names  # noqa: E402
from vggt_core.plate.frame_numbers import interpolated_frames, plate_frame_numbers  # noqa: E402

cv = load_convert()

# every other file of a 1001-based sequence: shot.1001.png, shot.1003.png, ...
SEQ = [f"/plates/shot.{n}.png" for n in (1001, 1003, 1005, 1007)]


def _seq_recon():
    return make_recon([(64, 48)] * 4, image_paths=SEQ, indices=[0, 2, 4, 6])


def test_image_sequence_keys_on_its_file_numbers():
    recon = _seq_recon()
    np.testing.assert_array_equal(plate_frame_numbers(recon.frames), [1001, 1003, 1005, 1007])
    # the importer's default plate puts every frame on its file number, whatever the scene starts at
    plate = cv.default_plate(recon)
    np.testing.assert_array_equal(cv.timeline_frames(recon, plate, 1), [1001, 1003, 1005, 1007])
    # Start At N: the first frame at N, the stride's gaps kept
    np.testing.assert_array_equal(plate_frame_numbers(recon.frames, start=1), [1, 3, 5, 7])
    np.testing.assert_array_equal(cv.timeline_frames(recon, plate, 1, start=1), [1, 3, 5, 7])
    assert interpolated_frames([1001, 1003, 1005, 1007]) == [1002, 1004, 1006]
    assert interpolated_frames([5, 6, 7]) == []


def test_movies_and_strips_as_they_play():
    movie = make_recon([(64, 48)] * 3, video="/tmp/shot.mp4", indices=[4, 9, 14])
    # a movie's frame 0 is frame 1 (Blender's and Nuke's first frame of a movie)
    np.testing.assert_array_equal(plate_frame_numbers(movie.frames), [5, 10, 15])
    np.testing.assert_array_equal(plate_frame_numbers(movie.frames, start=1001), [1001, 1006, 1011])
    # a strip that starts late keeps its own timeline; Start At shifts it
    strip = cv.PlateSettings(movie="/tmp/shot.mp4", timeline_frames=(240, 245, 250))
    np.testing.assert_array_equal(cv.timeline_frames(movie, strip, 1), [240, 245, 250])
    np.testing.assert_array_equal(cv.timeline_frames(movie, strip, 1, start=1001), [1001, 1006, 1011])
    # unnumbered photos: consecutive from the scene start, or from N
    photos = make_recon([(64, 48)] * 2, image_paths=["/d/a1.png", "/d/b7.png"])
    np.testing.assert_array_equal(cv.timeline_frames(photos, None, 1), [1, 2])
    np.testing.assert_array_equal(cv.timeline_frames(photos, None, 1, start=1001), [1001, 1002])


def test_colmap_video_names_carry_plate_numbers():
    movie = make_recon([(64, 48)] * 3, video="/tmp/my clip.mp4", indices=[0, 7, 14])
    assert image_names(movie.frames) == ["my_clip_000001.png", "my_clip_000008.png", "my_clip_000015.png"]
    assert image_names(movie.frames, frame_numbers=[1001, 1008, 1015])[0] == "my_clip_001001.png"
    assert image_names(_seq_recon().frames)[0] == "shot.1001.png"  # files keep their own names


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    from vggt_core.network.weights import save_checkpoint

    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_cli_summary_has_plate_numbers(tmp_path, checkpoint, capsys):
    from core_media import write_images

    from vggt_core.run.cli import main

    write_images(tmp_path / "in", [f"shot.{n}.png" for n in range(1001, 1006)], size=(56, 42))
    base = [str(tmp_path / "in"), "--weights", str(checkpoint), "--device", "cpu", "--dtype", "fp32",
            "--resolution", "56", "--stride", "2", "--export", "", "--no-cache"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["frame_numbers"] == [1001, 1003, 1005] and summary["interpolated_frames"] == [1002, 1004]
    args = ["--out", str(tmp_path / "b"), "--frame-start", "1", "--export-lens", "lens", "--undistort-plate"]
    assert main(base + args) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["frame_numbers"] == [1, 3, 5] and summary["interpolated_frames"] == [2, 4]
    # the lens package (no solve: the identity lens) on the same numbers, inside --out
    lens = tmp_path / "b" / "lens"
    assert summary["lens"]["model"] == "PINHOLE" and summary["lens"]["overscan"] == 1.0
    assert json.loads((lens / "lens.json").read_text()) == summary["lens"]
    assert sorted(p.name for p in (lens / "undistorted").iterdir()) == [f"undistorted.{n:04d}.png" for n in (1, 3, 5)]
    assert main(base + ["--out", str(tmp_path / "c"), "--undistort-plate"]) == 1
    assert "--undistort-plate needs --export-lens" in capsys.readouterr().err
