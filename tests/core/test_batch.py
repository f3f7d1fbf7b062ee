"""Shot manifests and ``vggt-reconstruct --batch``: per-shot failure, resume, the final table and JSON line."""
from __future__ import annotations

import json

import pytest

from core_media import write_images
from vggt_core import batch
from vggt_core.cli import main
from vggt_core.errors import InputError
from vggt_core.weights import save_checkpoint


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
    assert batch.find_shot(shots, "sh020") is shots[1] and batch.find_shot(shots, "1") is shots[1]
    with pytest.raises(InputError, match=r"no shot '2' in the manifest \(2 shots"):
        batch.find_shot(shots, "2")


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
    assert table[0].split() == ["shot", "status", "frames", "time_s", "solve_px", "error"]
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
    assert rows[0]["error"] == "shot x: bad options '--no-such-option': unrecognized arguments: --no-such-option"


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
