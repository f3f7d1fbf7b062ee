"""Shot manifests and ``vggt-reconstruct --batch``: per-shot failure, resume, the final table and JSON line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core_media import write_images
from vggt_core.run import batch
from vggt_core.run.cli import main
from vggt_core.errors import InputError
from vggt_core.network.weights import save_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/solve_shots.py


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_manifest_rows_paths_ranges_and_overrides(tmp_path):
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / "shots.csv"
    path.write_text("# plates of reel 1\nname, input, start, end, args\n"
                    "sh010,plates/a,,,\n\n"
                    'sh020,/abs/b.mov,5,20,"--fps 4 --name \'my shot\'"\n')
    shots = batch.load_manifest(path)
    assert [s.name for s in shots] == ["sh010", "sh020"] and [s.index for s in shots] == [0, 1]
    assert shots[0].input == tmp_path / "m" / "plates" / "a" and shots[0].argv() == []
    assert shots[1].argv() == ["--start", "5", "--end", "20", "--fps", "4", "--name", "my shot"]
    assert batch.find_shot(shots, name="sh020") is shots[1] and batch.find_shot(shots, index=1) is shots[1]


def test_shots_by_name_or_by_row_never_mixed(tmp_path):
    """Shots named 1, 2, 3: --shot-index 0 is shot "1" and --shot-index 2 shot "3" (a farm's rows 0..2 run
    each shot once); --shot 0 names no shot."""
    (tmp_path / "s.csv").write_text("name,input\n1,a\n2,b\n3,c\n")
    shots = batch.load_manifest(tmp_path / "s.csv")
    assert [batch.find_shot(shots, index=i).name for i in range(3)] == ["1", "2", "3"]
    assert batch.find_shot(shots, name="3") is shots[2] and batch.find_shot(shots, name="1") is shots[0]
    for kw, message in [
        ({"name": "0"}, "no shot named '0' in the manifest (3 shots; for row 0 give --shot-index 0)"),
        ({"name": "sh9"}, "no shot named 'sh9' in the manifest (3 shots)"),
        ({"index": 3}, "--shot-index 3: the manifest has 3 shots (rows 0..2)"),
        ({"index": -1}, "--shot-index -1: the manifest has 3 shots (rows 0..2)"),
        ({}, "give the shot as --shot NAME or --shot-index N (0-based row), not both"),
        ({"name": "1", "index": 0}, "give the shot as --shot NAME or --shot-index N (0-based row), not both"),
    ]:
        with pytest.raises(InputError) as info:
            batch.find_shot(shots, **kw)
        assert str(info.value) == message


def test_manifest_args_keep_windows_paths_and_shell_characters(tmp_path):
    (tmp_path / "s.csv").write_text('name,input,args\n'
                                    'a,x,"--name C:\\plates\\sh010 --export-camera ""D:\\cam out\\a.abc"""\n'
                                    "b,y,--name $(touch x);*#`id` --fps=4\n", encoding="utf-8")
    a, b = batch.load_manifest(tmp_path / "s.csv")
    assert a.args == ("--name", "C:\\plates\\sh010", "--export-camera", "D:\\cam out\\a.abc")
    assert b.args == ("--name", "$(touch", "x);*#`id`", "--fps=4")
    (tmp_path / "s.csv").write_text("name,input,args\na,x,--name 'open\n")
    with pytest.raises(InputError, match=r"line 2: unclosed quote in options \"--name 'open\""):
        batch.load_manifest(tmp_path / "s.csv")


@pytest.mark.parametrize("text,needle", [
    ("", "is empty"),
    ("shot,path\na,b\n", "header must name 'name' and 'input'"),
    ("name,input\na b,x\n", "line 2: shot name 'a b'"),
    ("name,input\n..,x\n", "line 2: shot name '..'"),
    ("name,input\na,x\na,y\n", "line 3: shot name 'a' is used twice"),
    ("name,input,start\na,x,one\n", "line 2: invalid literal"),
    ("name,input\na,\n", "line 2: shot a has no input"),
])
def test_bad_manifests_are_one_line(tmp_path, text, needle):
    (tmp_path / "s.csv").write_text(text)
    with pytest.raises(InputError, match=needle) as info:
        batch.load_manifest(tmp_path / "s.csv")
    assert "\n" not in str(info.value)


def test_batch_three_shots_one_broken_then_resume(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "a", ["1.png", "2.png", "3.png"], size=(56, 42))
    write_images(tmp_path / "b", ["1.png", "2.png", "3.png", "4.png"], size=(56, 42))
    write_images(tmp_path / "bad", ["1.png"], size=(56, 42))
    (tmp_path / "bad" / "2.jpg").write_bytes(b"not a jpeg at all")
    manifest = tmp_path / "shots.csv"
    manifest.write_text("name,input,start,end,args\nsh010,a,,,\nsh020,bad,,,\nsh030,b,1,,--max-frames 2 --export ply\n")
    out = tmp_path / "out"
    argv = ["--batch", str(manifest), "--out", str(out), "--weights", str(checkpoint), "--device", "cpu",
            "--resolution", "56", "--export", "colmap", "--max-points", "200"]

    assert main(argv) == 1
    cap = capsys.readouterr()
    result = json.loads(cap.out.splitlines()[-1])
    rows = {r["name"]: r for r in result["shots"]}
    assert result["status"] == "failed" and [r["status"] for r in result["shots"]] == ["done", "failed", "done"]
    assert rows["sh010"]["frames"] == 3 and rows["sh030"]["frames"] == 2 and rows["sh010"]["time_s"] > 0
    assert rows["sh020"]["error"].startswith("cannot read image") and "2.jpg" in rows["sh020"]["error"]
    assert "\n" not in rows["sh020"]["error"] and rows["sh010"]["error"] is None
    assert (out / "sh010" / "sparse" / "0").is_dir() and not (out / "sh010" / "points.ply").exists()
    assert (out / "sh030" / "points.ply").is_file() and not (out / "sh030" / "sparse").exists()  # per-shot override
    assert not (out / "sh020" / "summary.json").exists()
    table = cap.err.splitlines()[-4:]
    assert table[0].split() == ["shot", "status", "frames", "time_s", "solve_px", "verdict", "error"]
    assert table[1].split()[:3] == ["sh010", "done", "3"] and table[3].split()[:3] == ["sh030", "done", "2"]
    assert table[2].split()[:2] == ["sh020", "failed"] and table[2].endswith(rows["sh020"]["error"])

    (tmp_path / "bad" / "2.jpg").unlink()  # fix the broken shot; the done ones are skipped
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["status"] == "ok" and [r["status"] for r in result["shots"]] == ["skipped", "done", "skipped"]
    assert [r["frames"] for r in result["shots"]] == [3, 1, 2]


def test_bad_shot_override_fails_that_shot_only(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "a", ["1.png", "2.png"], size=(56, 42))
    (tmp_path / "s.csv").write_text("name,input,args\nx,a,--no-such-option\ny,a,\n")
    code = main(["--batch", str(tmp_path / "s.csv"), "--out", str(tmp_path / "o"), "--weights", str(checkpoint),
                 "--device", "cpu", "--resolution", "56", "--export", ""])
    rows = json.loads(capsys.readouterr().out.splitlines()[-1])["shots"]
    assert code == 1 and [r["status"] for r in rows] == ["failed", "done"]
    assert rows[0]["error"] == "shot x: options '--no-such-option': unrecognized arguments: --no-such-option"


def test_rows_cannot_change_job_options_or_write_outside_their_folder(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "a", ["1.png", "2.png"], size=(56, 42))
    (tmp_path / "s.csv").write_text(f"name,input,args\n"
                                    f"o,a,--out {tmp_path / 'elsewhere'}\n"
                                    f"c,a,--cache-dir {tmp_path / 'cache'}\n"
                                    f"ab,a,--ou={tmp_path / 'elsewhere'}\n"
                                    f"w,a,--weights {checkpoint}\n"
                                    f"h,a,--help\n"
                                    f"ok,a,--max-frames 1\n")
    out = tmp_path / "o"
    code = main(["--batch", str(tmp_path / "s.csv"), "--out", str(out), "--weights", str(checkpoint),
                 "--device", "cpu", "--resolution", "56", "--export", "ply"])
    rows = json.loads(capsys.readouterr().out.splitlines()[-1])["shots"]
    assert code == 1 and [r["status"] for r in rows] == ["failed"] * 5 + ["done"]
    job = "cannot be set here (it belongs to the whole job or task)"
    assert [r["error"] for r in rows[:5]] == [
        f"shot o: options '--out {tmp_path / 'elsewhere'}': --out {job}",
        f"shot c: options '--cache-dir {tmp_path / 'cache'}': --cache-dir {job}",
        f"shot ab: options '--ou={tmp_path / 'elsewhere'}': unrecognized arguments: --ou={tmp_path / 'elsewhere'}",
        f"shot w: options '--weights {checkpoint}': --weights {job}",
        "shot h: options '--help': --help is not an option here",
    ]
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "cache").exists()
    assert sorted(p.name for p in out.iterdir()) == ["ok"] and (out / "ok" / "cache").is_dir()


def test_rows_outputs_stay_in_their_folder_whoever_names_them(tmp_path, capsys):
    """--export-lens absolute elsewhere or through .. is refused for that shot, in one line, before anything is
    written (it used to write there and report done); a relative one lands in OUT/NAME, from the row or from
    the command."""
    from vggt_core.run.cli import build_parser

    (tmp_path / "a").mkdir()
    (tmp_path / "s.csv").write_text(f"name,input,args\n"
                                    f"abs,a,--export-lens {tmp_path / 'lens'}\n"
                                    f"up,a,--export-lens ../lens\n"
                                    f"eq,a,--export-lens=../../lens\n")
    out = tmp_path / "o"
    code = main(["--batch", str(tmp_path / "s.csv"), "--out", str(out)])  # refused before any weights load
    rows = json.loads(capsys.readouterr().out.splitlines()[-1])["shots"]
    assert code == 1 and [r["status"] for r in rows] == ["failed"] * 3
    stay = "a shot's outputs stay in {}: give a path relative to it"
    assert [r["error"] for r in rows] == [
        f"--export-lens {tmp_path / 'lens'}: " + stay.format(out / "abs"),
        "--export-lens ../lens: " + stay.format(out / "up"),
        "--export-lens ../../lens: " + stay.format(out / "eq"),
    ]
    assert not (tmp_path / "lens").exists() and not out.exists()

    seen = {}
    parser = build_parser()
    for extra in ([], ["--export-lens", "lens"]):  # a row's own, then the command's for every shot
        (tmp_path / "s.csv").write_text("name,input,args\nok,a,--export-lens nuke/lens\nplain,a,\n")
        args = parser.parse_args(["--batch", str(tmp_path / "s.csv"), "--out", str(out), *extra])
        batch.run_batch(parser, args, lambda a, engines: seen.update({a.out.name: a.export_lens}) or {})
    assert seen == {"ok": out / "ok" / "nuke" / "lens", "plain": out / "plain" / "lens"}


def test_a_rows_relative_mask_is_the_manifests_not_the_workers(tmp_path, monkeypatch):
    """--mask in a row is relative to the manifest's folder, like the row's input, wherever the command runs."""
    from vggt_core.run.cli import build_parser

    (tmp_path / "m" / "a").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "m" / "s.csv").write_text(f"name,input,args\n"
                                          f"sh010,a,--mask mattes/sh010 --mask-invert\n"
                                          f"sh020,a,--mask=../roto\n"
                                          f"sh030,a,--mask {tmp_path / 'abs'}\n")
    monkeypatch.chdir(tmp_path / "elsewhere")  # a farm worker's folder
    shots = batch.load_manifest(tmp_path / "m" / "s.csv")
    assert shots[0].args == ("--mask", str(tmp_path / "m" / "mattes" / "sh010"), "--mask-invert")
    assert shots[1].args == (f"--mask={tmp_path / 'roto'}",) and shots[2].args == ("--mask", str(tmp_path / "abs"))
    masks = {}
    parser = build_parser()
    args = parser.parse_args(["--batch", str(tmp_path / "m" / "s.csv"), "--out", "o"])
    batch.run_batch(parser, args, lambda a, engines: masks.update({a.out.name: a.mask}) or {})
    assert masks == {"sh010": str(tmp_path / "m" / "mattes" / "sh010"), "sh020": str(tmp_path / "roto"),
                     "sh030": str(tmp_path / "abs")}


def test_batch_table_shows_the_solve_error_and_verdict(tmp_path):
    """A row without --refine solves (the default), a row's --refine none reaches the shot's run, and the table reads the solve report's rmse_px and verdict
    (a shot without a solve report shows none). The model
    run is stood in for by a synthetic shot with known cameras (tests/solve_shots.py), solved for real."""
    from solve_shots import make_shot, shot_recon

    from vggt_core.run.cli import build_parser
    from vggt_core.solve import solve

    (tmp_path / "a").mkdir()
    (tmp_path / "s.csv").write_text("name,input,args\nba,a,--lens shared\nnone,a,--refine none\nbare,a,\n")
    parser = build_parser()
    args = parser.parse_args(["--batch", str(tmp_path / "s.csv"), "--out", str(tmp_path / "o")])
    shot = make_shot("dolly", frames=8, tracks=150, size=(640, 360), focal_px=500.0, seed=1)
    reports = {}

    def run(shot_args, engines):
        recon = solve(shot_recon(shot), lens=shot_args.lens, refine=shot_args.refine)
        reports[shot_args.out.name] = recon.solve
        if shot_args.out.name == "bare":
            return {"frames": len(recon.frames)}
        # the verdict the table shows is the report's, whatever it is: make the two rows' differ
        recon.solve["verdict"] = {"ba": "check", "none": "failed"}[shot_args.out.name]
        return {"frames": len(recon.frames), "solve": recon.solve}

    rows = batch.run_batch(parser, args, run)
    assert [r["status"] for r in rows] == ["done", "done", "done"] and reports["ba"]["refine"] == "ba"
    assert rows[0]["solve_error_px"] == reports["ba"]["rmse_px"] > 0 and rows[1]["solve_error_px"] is None
    assert [r["verdict"] for r in rows] == ["check", "failed", None]
    table = batch.format_table(rows).splitlines()
    assert table[0].split() == ["shot", "status", "frames", "time_s", "solve_px", "verdict", "error"]
    assert table[1].split() == ["ba", "done", "8", table[1].split()[3], f"{reports['ba']['rmse_px']:.3f}", "check"]
    assert table[2].split() == ["none", "done", "8", table[2].split()[3], "failed"]
    assert table[3].split() == ["bare", "done", "8", table[3].split()[3]]


def test_single_run_ends_with_a_json_line_and_exit_codes(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "a", ["1.png", "2.png"], size=(56, 42))
    out = tmp_path / "o"
    assert main([str(tmp_path / "a"), "--out", str(out), "--weights", str(checkpoint), "--device", "cpu",
                 "--resolution", "56", "--export", "ply"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["status"] == "ok" and result["error"] is None and result["out"] == str(out) and result["frames"] == 2
    assert result["files"] == [str(out / f) for f in ("reconstruction.npz", "points.ply", "summary.json")]
    assert {"model", "total"} <= set(result["timings_s"])

    assert main([str(tmp_path / "missing"), "--out", str(out)]) == 1
    cap = capsys.readouterr()
    result = json.loads(cap.out.splitlines()[-1])
    assert result["status"] == "failed" and cap.err == f"error: {result['error']}\n" and result["files"] == []
    assert not (out / "summary.json").exists()  # a failed re-run leaves no stale done marker

    for argv in ([], ["--batch", "x.csv", str(tmp_path / "a"), "--out", str(out)], ["--out", str(out)]):
        with pytest.raises(SystemExit) as exit_:  # usage errors stay argparse's: exit code 2
            main(argv)
        assert exit_.value.code == 2
