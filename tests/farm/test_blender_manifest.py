"""``blender -b -c vggt --manifest SHOTS.csv --shot-index N --out DIR``: a farm task's errors, one line + a JSON line;
the options a manifest row shares with ``vggt-reconstruct``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vggt_blender.command_line import cli  # noqa: E402


JOB = "cannot be set here (it belongs to the whole job or task)"


@pytest.mark.parametrize("extra,needle", [
    (["--shot", "a", "--out", "{tmp}/file"], "--out: cannot write to {tmp}/file/a (Not a directory): choose another folder"),
    (["--shot", "3", "--out", "{tmp}/o"], "no shot named '3' in the manifest (2 shots)"),
    (["--shot", "1", "--out", "{tmp}/o"], "no shot named '1' in the manifest (2 shots; for row 1 give --shot-index 1)"),
    (["--shot-index", "2", "--out", "{tmp}/o"], "--shot-index 2: the manifest has 2 shots (rows 0..1)"),
    (["--out", "{tmp}/o"], "--manifest needs --shot NAME or --shot-index N, and --out OUTPUT_FOLDER"),
    (["--shot-index", "0", "--out", "{tmp}/o"], "video file not found: {tmp}/x.mov"),
    (["--shot-index", "1", "--out", "{tmp}/o"], "shot b: options '--cache-dir {tmp}/c': --cache-dir " + JOB),
    (["--shot", "a", "--out", "{tmp}/o", "--export-camera", "../cam.abc"],
     "--export-camera ../cam.abc: a shot's outputs stay in {tmp}/o/a: give a path relative to it"),
    (["--shot", "a", "--out", "{tmp}/o", "--options=--render {tmp}/p.png"],
     "--render {tmp}/p.png: a shot's outputs stay in {tmp}/o/a: give a path relative to it"),
    (["--shot", "a", "--out", "{tmp}/o", "--export-points", "{tmp}/o/b/p.glb"],
     "--export-points {tmp}/o/b/p.glb: a shot's outputs stay in {tmp}/o/a: give a path relative to it"),
    (["--shot", "a", "--out", "{tmp}/o", "--qc-render", "../qc.mp4"],
     "--qc-render ../qc.mp4: a shot's outputs stay in {tmp}/o/a: give a path relative to it"),
])
def test_manifest_task_errors(tmp_path, capsys, extra, needle):
    (tmp_path / "s.csv").write_text(f"name,input,args\na,x.mov,--stride 2\nb,x.mov,--cache-dir {tmp_path / 'c'}\n")
    (tmp_path / "file").write_text("x")
    argv = ["--manifest", str(tmp_path / "s.csv")] + [a.format(tmp=tmp_path) for a in extra]
    assert cli.main(argv) == 1
    cap = capsys.readouterr()
    assert cap.err.splitlines()[-1] == f"vggt: error: {needle.format(tmp=tmp_path)}"
    result = json.loads(cap.out.splitlines()[-1])
    assert result["status"] == "failed" and result["error"] == needle.format(tmp=tmp_path) and result["files"] == []
    assert {p.name for p in tmp_path.iterdir()} <= {"file", "o", "s.csv"}  # nothing written elsewhere


def test_one_manifest_row_means_the_same_in_both_commands():
    """A row's args parse in vggt-reconstruct and in blender -b -c vggt to the same settings."""
    from vggt_core.run.cli import build_parser
    from vggt_core.run.cli_options import split_options

    row = split_options("--fps 4 --max-frames 60 --stride 2 --start 3 --end 90 --mode pad --resolution 280 "
                        "--point-source points --conf-percentile 30 --max-points 0 --lens known --focal-px 900 "
                        "--refine ba --distortion k1 --track-frames 5 --track-refine none --chunk-size 16 --overlap 4")
    core = build_parser().parse_args(["in", "--out", "o", *row])
    blender = cli._parser().parse_args(["--images", "in", "--out", "o.blend", *row])
    shared = ("fps", "max_frames", "stride", "start", "end", "mode", "resolution", "point_source", "conf_percentile",
              "max_points", "lens", "focal_px", "refine", "distortion", "track_frames", "track_refine", "chunk_size",
              "overlap", "chunk_strategy", "device", "dtype", "weights", "model", "cache_dir", "no_cache")
    assert {k: getattr(core, k) for k in shared} == {k: getattr(blender, k) for k in shared}
    assert core.resolution == 280 and blender.point_source == "points" and core.track_refine == "none"


def test_a_rows_paths_mean_the_same_in_both_commands(tmp_path, capsys, monkeypatch):
    """One rule for a row's paths (vggt_core.run.batch), in both commands: an output that leaves OUT/NAME is
    refused with the same line, and a relative --mask is taken from the manifest's folder, not the worker's."""
    from vggt_blender.command_line import manifest_cli
    from vggt_core.run.cli import main as reconstruct

    (tmp_path / "m").mkdir()
    (tmp_path / "worker").mkdir()
    monkeypatch.chdir(tmp_path / "worker")
    manifest = tmp_path / "m" / "s.csv"
    manifest.write_text(f"name,input,args\nabs,x.mov,--export-lens {tmp_path / 'lens'}\n"
                        f"up,x.mov,--export-lens ../lens\nmask,x.mov,--mask mattes/sh010\n")
    out = tmp_path / "o"
    assert reconstruct(["--batch", str(manifest), "--out", str(out)]) == 1
    rows = json.loads(capsys.readouterr().out.splitlines()[-1])["shots"]
    assert rows[0]["error"] == (f"--export-lens {tmp_path / 'lens'}: a shot's outputs stay in {out / 'abs'}: "
                                "give a path relative to it")
    for row in rows[:2]:
        assert cli.main(["--manifest", str(manifest), "--shot", row["name"], "--out", str(out)]) == 1
        assert capsys.readouterr().err.splitlines()[-1] == f"vggt: error: {row['error']}"
    assert not (tmp_path / "lens").exists() and not (out / "lens").exists()

    parser = cli._parser()
    args = parser.parse_args(["--manifest", str(manifest), "--shot", "mask", "--out", str(out)])
    manifest_cli.apply_shot(parser, args)
    assert args.mask == str(tmp_path / "m" / "mattes" / "sh010")
