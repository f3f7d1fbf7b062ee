"""``vggt-reconstruct --lens ... --refine ba``: the solve runs after the model, is cached, reported on stderr
and in summary.json, and the COLMAP model follows it (tiny synthetic model: its tracks mean nothing, so this
checks the wiring, not accuracy; tests/core/test_solve.py checks accuracy on shots with known cameras)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core_media import write_images
from vggt_core.run import cache
from vggt_core.run.cli import main
from vggt_core.errors import InputError
from vggt_core.run.pipeline import ReconstructSettings
from vggt_core.network.weights import save_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_the_default_run_solves_end_to_end(tmp_path, checkpoint, capfd):
    """No solve option given: the run solves (bundle adjustment, tracks on the plate, a verdict, the error graph).
    (capfd: COLMAP writes to file descriptor 2 itself, past sys.stderr.)"""
    import pycolmap

    write_images(tmp_path / "in", [f"{i}.png" for i in range(4)], size=(112, 63))
    out = tmp_path / "out"
    code = main([str(a) for a in [tmp_path / "in", "--out", out, "--weights", checkpoint, "--device", "cpu",
                                  "--dtype", "fp32", "--resolution", "112", "--track-frames", "3"]])
    err = capfd.readouterr().err
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    # COLMAP's INFO lines (two per adjustment) are in its log beside the results, not in the terminal
    assert "bundle_adjustment.cc" not in err and "timer.cc" not in err, err
    rep = summary["solve"]
    assert rep["lens"] == "shared" and rep["refine"] == "ba" and "solve" in summary["timings_s"]
    assert "camera solve: lens shared" in err
    recon = cache.load(out / "reconstruction.npz")
    assert recon.solve == rep and recon.tracks is not None
    # Tracks queried on 3 frames spread over the 4 (a grid on each), every query pinned on its own frame.
    n = np.arange(len(recon.query_frames))
    assert sorted(set(recon.query_frames.tolist())) == [0, 2, 3] and recon.settings["track_frames"] == 3
    np.testing.assert_allclose(recon.tracks[recon.query_frames, n], recon.query_points, atol=1e-4)
    assert np.all(recon.intrinsics == recon.intrinsics[0])
    model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert model.num_cameras() == 1
    # The verdict is in the report and on the summary line; the per-frame graph lies next to the results.
    assert rep["verdict"] in ("good", "check", "failed") and f"verdict {rep['verdict']}" in err
    assert rep["frame_numbers"] == [0, 1, 2, 3] and recon.settings["motion"] == "auto"
    # Tracks refined on the plate by default (the plate read again), stored with the solved result.
    assert recon.settings["track_refine"] == "plate" and rep["track_refine"] == "plate"
    assert recon.tracks_plate.shape == recon.tracks.shape and recon.tracks_plate_vis.shape == recon.track_vis.shape
    if "skipped" not in rep:
        assert rep["motion"] in ("free", "tripod") and f"motion {rep['motion_reason']}" in err
    if "skipped" not in rep:  # the random model's tracks may not triangulate
        assert sum(p.track.length() for p in model.points3D.values()) == len(recon.sparse_obs)
        assert (out / "solve_errors.png").is_file() and "solve_errors.png" in summary["files"]
        # COLMAP's log beside the results, its INFO lines kept out of the terminal (its adjuster: a free camera)
        if rep["motion"] == "free":
            assert "Global bundle adjustment" in (out / "colmap.log").read_text() and "colmap.log" in summary["files"]
    else:
        assert rep["verdict"] == "failed"


def test_colmap_warnings_reach_the_terminal_and_its_info_lines_only_the_log(tmp_path, capfd):
    """A real bundle adjustment (pycolmap turns its INFO lines back on for each one) inside colmap_log: its INFO
    lines go to the file only; a COLMAP warning and any other output written meanwhile reach stderr, in order."""
    import os

    from solve_shots import make_shot
    from vggt_core.solve import colmap_log
    from vggt_core.solve.adjust import bundle_adjust
    from vggt_core.solve.colmap_output import quiet_colmap

    shot = make_shot("orbit", frames=5, tracks=60, seed=0)
    log = tmp_path / "colmap.log"
    with colmap_log(log):
        bundle_adjust(shot.k_start, shot.extrinsics_start, [shot.size] * 5, shot.uv, shot.seen, shot.points,
                      shared=True, rounds=1)
        with quiet_colmap():
            os.write(2, b"I20261207 10:00:00.000001 1 x.cc:1] detail\n"
                        b"\x1b[0;33mW20261207 10:00:00.000002 1 x.cc:2] careful\n\x1b[mplain text\n")
    err = capfd.readouterr().err
    assert "Global bundle adjustment" not in err and "detail" not in err
    assert "W20261207 10:00:00.000002 1 x.cc:2] careful\nplain text\n" in err
    text = log.read_text()
    assert text.count("Global bundle adjustment") >= 1 and "] detail" in text and "] careful" in text
    assert "plain text" not in text and "\x1b" not in text
    bundle_adjust(shot.k_start, shot.extrinsics_start, [shot.size] * 5, shot.uv, shot.seen, shot.points,
                  shared=True, rounds=1)  # outside colmap_log: INFO lines go nowhere
    assert "bundle_adjustment.cc" not in capfd.readouterr().err and log.read_text() == text


def test_track_refinement_is_a_solve_setting_on_the_plate_by_default():
    from vggt_core.run.cli import build_parser
    from vggt_core.run.pipeline import network_settings

    args = build_parser().parse_args(["in", "--out", "o", "--refine", "ba"])
    assert args.track_refine == "plate" == ReconstructSettings().track_refine
    none = ReconstructSettings(refine="ba", track_refine="none")
    assert build_parser().parse_args(["in", "--out", "o", "--track-refine", "none"]).track_refine == "none"
    # keyed with the solve, not the network: switching it re-solves from the cached network output
    assert network_settings(none) == network_settings(ReconstructSettings(refine="ba"))
    with pytest.raises(InputError, match="track refinement"):
        ReconstructSettings(track_refine="sift")


def test_the_default_run_solves_and_the_command_line_and_manifest_rows_share_the_core_defaults(tmp_path):
    """One set of defaults (issue 27): the core's, vggt-reconstruct's and a manifest row's are the same
    (the panel and ``blender -b -c vggt``: tests/blender/test_solve_import.py)."""
    from vggt_core import DEFAULTS
    from vggt_core.run import cli_options
    from vggt_core.run.batch import load_manifest
    from vggt_core.run.cli import build_parser

    assert DEFAULTS == ReconstructSettings()
    assert (DEFAULTS.refine, DEFAULTS.lens, DEFAULTS.track_refine, DEFAULTS.motion) == ("ba", "auto", "plate", "auto")
    parser = build_parser()
    args = parser.parse_args(["in", "--out", "o"])
    assert ReconstructSettings(**cli_options.settings_fields(args)) == DEFAULTS
    # a manifest row without options runs on the job's, as run_batch parses it
    (tmp_path / "shots.csv").write_text("name,input,start,end,args\nA,plate_a,,,\nB,plate_b,,,--refine none\n")
    rows = []
    for shot in load_manifest(tmp_path / "shots.csv"):
        row = parser.parse_args(["in", "--out", "o"])
        cli_options.parse_onto(parser, [str(shot.input), "--out", "o", *shot.argv()], row, shot.name)
        rows.append(ReconstructSettings(**cli_options.settings_fields(row)))
    assert rows[0] == DEFAULTS and rows[1].refine == "none"
    assert ReconstructSettings.from_dict({"lens": "known", "focal_px": 800.0}).focal_px == 800.0


@pytest.mark.parametrize("kw, needle", [
    ({"lens": "fisheye"}, "unknown lens"), ({"refine": "magic"}, "unknown refinement"),
    ({"lens": "known"}, "focal"), ({"refine": "none", "distortion": "k1"}, "distortion"), ({"motion": "crane"}, "motion"),
    ({"lens": "per-frame", "refine": "ba", "distortion": "k1"}, "shared, known or zoom"),
])
def test_bad_solve_settings_are_one_line_errors(kw, needle):
    with pytest.raises(InputError, match=needle):
        ReconstructSettings(**kw)


def test_distortion_is_accepted_on_a_tripod_and_a_zoom():
    ReconstructSettings(motion="tripod", refine="ba", lens="shared", distortion="k1")
    ReconstructSettings(lens="zoom", refine="ba", distortion="k1k2")
