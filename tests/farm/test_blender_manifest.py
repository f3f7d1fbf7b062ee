"""``blender -b -c vggt --manifest SHOTS.csv --shot N --out DIR``: a farm task's errors, one line + a JSON line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vggt_blender.command_line import cli  # noqa: E402


@pytest.mark.parametrize("extra,needle", [
    (["--shot", "a", "--out", "{tmp}/file"], "--out: cannot write to {tmp}/file/a (Not a directory): choose another folder"),
    (["--shot", "3", "--out", "{tmp}/o"], "no shot '3' in the manifest (1 shots: names, or indices 0..0)"),
    (["--out", "{tmp}/o"], "--manifest needs --shot NAME|INDEX and --out OUTPUT_FOLDER"),
    (["--shot", "0", "--out", "{tmp}/o"], "video file not found: {tmp}/x.mov"),
])
def test_manifest_task_errors(tmp_path, capsys, extra, needle):
    (tmp_path / "s.csv").write_text("name,input,args\na,x.mov,--stride 2\n")
    (tmp_path / "file").write_text("x")
    argv = ["--manifest", str(tmp_path / "s.csv")] + [a.format(tmp=tmp_path) for a in extra]
    assert cli.main(argv) == 1
    cap = capsys.readouterr()
    assert cap.err.splitlines()[-1] == f"vggt: error: {needle.format(tmp=tmp_path)}"
    result = json.loads(cap.out.splitlines()[-1])
    assert result["status"] == "failed" and result["error"] == needle.format(tmp=tmp_path) and result["files"] == []
