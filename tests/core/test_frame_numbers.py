"""Plate frame numbers (``vggt_core.plate.frame_numbers``) and where they reach: the importer's timeline
(``convert.timeline_frames``), COLMAP image names, the solve report and ``vggt-reconstruct``'s summary.json."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pure_convert import load_convert  # noqa: E402
from synth_recon import make_recon  # noqa: E402
from vggt_core.deliver.colmap import image_names  # noqa: E402
from vggt_core.plate.frame_numbers import interpolated_frames, plate_frame_numbers, sequence_numbers  # noqa: E402
from vggt_core.reconstruction import Lens  # noqa: E402

cv = load_convert()

# every other file of a 1001-based sequence: shot.1001.png, shot.1003.png, ...
SEQ = [f"/plates/shot.{n}.png" for n in (1001, 1003, 1005, 1007)]


def _seq_recon():
    return make_recon([(64, 48)] * 4, image_paths=SEQ, indices=[0, 2, 4, 6])


def test_image_sequence_keys_on_its_file_numbers():
    recon = _seq_recon()
    np.testing.assert_array_equal(plate_frame_numbers(recon.frames), [1001, 1003, 1005, 1007])
    # the importer's default plate puts every frame on its file number, whatever the scene starts at
    plate = cv.default_plate(recon.frames)
    np.testing.assert_array_equal(cv.timeline_frames(recon.frames, plate, 1), [1001, 1003, 1005, 1007])
    # Start At N: the first frame at N, the stride's gaps kept
    np.testing.assert_array_equal(plate_frame_numbers(recon.frames, start=1), [1, 3, 5, 7])
    np.testing.assert_array_equal(cv.timeline_frames(recon.frames, plate, 1, start=1), [1, 3, 5, 7])
    assert interpolated_frames([1001, 1003, 1005, 1007]) == [1002, 1004, 1006]
    assert interpolated_frames([5, 6, 7]) == []


def test_movies_and_strips_as_they_play():
    movie = make_recon([(64, 48)] * 3, video="/tmp/shot.mp4", indices=[4, 9, 14])
    # a movie's frame 0 is frame 1 (Blender's and Nuke's first frame of a movie)
    np.testing.assert_array_equal(plate_frame_numbers(movie.frames), [5, 10, 15])
    np.testing.assert_array_equal(plate_frame_numbers(movie.frames, start=1001), [1001, 1006, 1011])
    # a strip that starts late keeps its own timeline; Start At shifts it
    strip = cv.PlateSettings(movie="/tmp/shot.mp4", timeline_frames=(240, 245, 250))
    np.testing.assert_array_equal(cv.timeline_frames(movie.frames, strip, 1), [240, 245, 250])
    np.testing.assert_array_equal(cv.timeline_frames(movie.frames, strip, 1, start=1001), [1001, 1006, 1011])
    # the movie itself: its frame k at the scene's first frame + k, as the core numbers it from 1
    np.testing.assert_array_equal(cv.timeline_frames(movie.frames, None, 101), [105, 110, 115])
    # unnumbered photos: their position in the folder from the scene start, or from N
    photos = make_recon([(64, 48)] * 2, image_paths=["/d/a1.png", "/d/b7.png"], indices=[0, 2])
    np.testing.assert_array_equal(cv.timeline_frames(photos.frames, None, 1), plate_frame_numbers(photos.frames))
    np.testing.assert_array_equal(cv.timeline_frames(photos.frames, None, 1), [1, 3])
    np.testing.assert_array_equal(cv.timeline_frames(photos.frames, None, 1, start=1001), [1001, 1003])


# shot.1004 and shot.1006 with shot.1005 missing (dropped, or removed because it was bad)
GAP = [f"/plates/shot.{n}.png" for n in (1001, 1002, 1003, 1004, 1006, 1007)]


def test_a_gap_in_the_files_keeps_their_numbers():
    frames = make_recon([(64, 48)] * 6, image_paths=GAP).frames  # positions 0..5 in the sorted folder
    np.testing.assert_array_equal(plate_frame_numbers(frames), [1001, 1002, 1003, 1004, 1006, 1007])
    assert interpolated_frames(plate_frame_numbers(frames)) == [1005]
    # the import keys on the same numbers and shows the files as its plate, however the scene starts
    assert cv.default_plate(frames).images == tuple(GAP)
    np.testing.assert_array_equal(cv.timeline_frames(frames, None, 1), [1001, 1002, 1003, 1004, 1006, 1007])
    np.testing.assert_array_equal(cv.timeline_frames(frames, None, 1, start=1), [1, 2, 3, 4, 6, 7])
    # a stride over the gap: every other file
    strided = make_recon([(64, 48)] * 3, image_paths=GAP[::2], indices=[0, 2, 4]).frames
    np.testing.assert_array_equal(plate_frame_numbers(strided), [1001, 1003, 1006])


@pytest.mark.parametrize("names, numbers", [
    (["s.0998.png", "s.0999.png", "s.1000.png"], [998, 999, 1000]),  # one padding (%04d)
    (["s.9999.png", "s.10000.png"], [9999, 10000]),  # %04d past 9999
    (["s.998.png", "s.999.png", "s.1000.png"], [998, 999, 1000]),  # no padding
    (["s.0998.png", "s.999.png"], None),  # two paddings: two sequences
    (["a.1001.png", "b.1002.png"], None),  # two names
    (["s.1001.png", "s.1002.exr"], None),  # two tails
    (["s.1002.png", "s.1001.png"], None),  # not increasing (an explicit list in another order)
    (["s.1.png", "s.01.png"], None),  # one number twice
    (["a1.png", "b7.png"], None),  # photos
    (["IMG.png", "s.1002.png"], None),  # an unnumbered file
])
def test_which_files_are_one_numbered_sequence(names, numbers):
    frames = make_recon([(64, 48)] * len(names), image_paths=[f"/p/{n}" for n in names]).frames
    assert sequence_numbers(frames) == numbers
    if numbers is None:  # positions from 1, as a movie's frames
        np.testing.assert_array_equal(plate_frame_numbers(frames), np.arange(1, len(names) + 1))
    two_folders = make_recon([(64, 48)] * 2, image_paths=["/p/s.1001.png", "/q/s.1002.png"]).frames
    assert sequence_numbers(two_folders) is None


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


def test_cli_gap_and_start_at_reach_exports_and_the_solve_report(tmp_path, checkpoint, capsys):
    """vggt-reconstruct on a sequence with a gap: summary, COLMAP images and the solve report on the file numbers;
    again with --frame-start on the same cache: the report follows (re-solved, not the first run's)."""
    from core_media import write_images

    from vggt_core.run.cli import main

    numbers = [1001, 1002, 1003, 1004, 1006, 1007]
    write_images(tmp_path / "in", [f"shot.{n}.png" for n in numbers], size=(56, 42))
    base = [str(tmp_path / "in"), "--weights", str(checkpoint), "--device", "cpu", "--dtype", "fp32",
            "--resolution", "56", "--lens", "shared", "--export", "colmap", "--cache-dir", str(tmp_path / "cache")]
    assert main(base + ["--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["frame_numbers"] == numbers and summary["interpolated_frames"] == [1005]
    assert summary["solve"]["frame_numbers"] == numbers
    assert sorted(p.name for p in (tmp_path / "a" / "images").iterdir()) == [f"shot.{n}.png" for n in numbers]
    assert main(base + ["--out", str(tmp_path / "b"), "--frame-start", "101"]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["frame_numbers"] == summary["solve"]["frame_numbers"] == [101, 102, 103, 104, 106, 107]


def test_the_undistorted_plate_of_a_gap_skips_the_missing_file(tmp_path):
    """A distorted solve of shot.1001, 1004 and 1007 (1005 missing): the undistorted plate spans every file
    between them on its own number, each at its position in the folder."""
    import dataclasses

    for n in (1001, 1002, 1003, 1004, 1006, 1007):
        (tmp_path / f"shot.{n}.png").write_bytes(b"")  # planning reads no pixels
    keyed = [str(tmp_path / f"shot.{n}.png") for n in (1001, 1004, 1007)]
    recon = make_recon([(64, 48)] * 3, image_paths=keyed, indices=[0, 3, 5], fx_fy=[(40.0, 40.0)] * 3)
    fx = float(recon.intrinsics[0, 0, 0])
    recon = dataclasses.replace(recon, solve={"lens": "shared", "focal_before_px": fx, "focal_after_px": fx},
                                lens=Lens.fixed("SIMPLE_RADIAL", 3, k1=-0.1))
    und = cv.undistorted_plate(recon, cv.ImportSettings(), 1, str(tmp_path / "und"))
    assert und.numbers == (1001, 1002, 1003, 1004, 1006, 1007)
    assert [os.path.basename(f.source) for f in und.frames] == [f"shot.{n}.png" for n in und.numbers]
    assert [f.index for f in und.frames] == [0, 1, 2, 3, 4, 5]
