"""The OpenJD job template (farm/openjd/vggt-reconstruct.yaml) under the real ``openjd`` CLI.

``openjd run`` executes the template's tasks locally; the Blender executable parameter is a stand-in
that runs our registered command through the bpy module (tests/farm/blender_launcher.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

from farm_helpers import blender_stand_in, write_shot  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "farm" / "openjd" / "vggt-reconstruct.yaml"
OPENJD = [sys.executable, "-c", "import sys; from openjd.cli import main; sys.exit(main())"]


@pytest.fixture(scope="module")
def ckpt(tiny_model, tmp_path_factory) -> Path:
    from vggt_core.network.weights import save_checkpoint

    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def _openjd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*OPENJD, *args], capture_output=True, text=True, timeout=600)


def test_template_passes_openjd_check():
    proc = _openjd("check", str(TEMPLATE))
    assert proc.returncode == 0 and "passes validation" in proc.stdout, proc.stdout + proc.stderr


def test_openjd_run_two_shots_and_a_broken_one(tmp_path, ckpt):
    write_shot(tmp_path / "plates" / "a", 3)
    write_shot(tmp_path / "plates" / "b", 4, seed=1)
    manifest = tmp_path / "shots.csv"
    manifest.write_text("name,input,start,end,args\n"
                        "sh010,plates/a,,,\n"
                        "sh020,plates/b,1,,--max-frames 2\n"
                        "sh030,plates/missing.mov,,,\n")
    out = tmp_path / "out"
    params = ["-p", f"ShotManifest={manifest}", "-p", f"OutputDir={out}", "-p", f"ModelSource={ckpt}",
              "-p", "Device=cpu", "-p", f"BlenderExecutable={blender_stand_in(tmp_path)}",
              "-p", "FrameOptions=--stride 1", "-p", "ExtraArgs=--no-proxies --max-points 300 --export-colmap colmap"]
    proc = _openjd("run", str(TEMPLATE), "-p", "Shots=0-1", *params)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    for name, frames in (("sh010", 3), ("sh020", 2)):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["frames"] == frames, summary
        assert (out / name / f"{name}.blend").is_file() and (out / name / "colmap" / "sparse" / "0").is_dir()
        assert str(out / name / f"{name}.blend") in summary["files"] and summary["timings_s"]["total"] > 0
    # farm-readable logs: plain stage/percentage lines, then each task's JSON result line
    assert log.count("vggt: Running the network 100%") == 2 and log.count('"status": "ok"') == 2, log

    proc = _openjd("run", str(TEMPLATE), "-p", "Shots=2", *params)  # a broken shot fails its task, with one line
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"vggt: error: video file not found: {tmp_path / 'plates' / 'missing.mov'}" in log
    assert '"status": "failed"' in log and not (out / "sh030" / "summary.json").exists()


HOSTILE = "$(touch INJ1)`touch INJ2`;*#'q' \"dq\" é"  # in a folder name, a collection name and a file name


def test_openjd_run_passes_hostile_values_intact_or_refuses_them(tmp_path, ckpt):
    """Every string parameter holds shell syntax, quotes, spaces and non-ASCII; nothing runs as a shell."""
    root = tmp_path / HOSTILE
    write_shot(root / "plates" / "a", 3)
    (root / "shots.csv").write_text("name,input,start,end,args\nsh010,plates/a,,,\n", encoding="utf-8")
    model = root / "model é.safetensors"
    model.write_bytes(ckpt.read_bytes())
    out = root / "out é"
    touch = f"$(touch {tmp_path}/INJ3) `touch {tmp_path}/INJ4`"
    extra = (f"--no-proxies --max-points 300 --name 'n $(touch INJ5)`x`;*#é' "
             f"--export-camera \"cam {touch} é.chan\" --export-points 'pts;*#.glb'")
    params = ["-p", f"ShotManifest={root / 'shots.csv'}", "-p", f"OutputDir={out}",
              "-p", f"BlenderExecutable={blender_stand_in(root)}"]
    good = {"FrameOptions": "--stride 1", "ExtraArgs": extra, "ModelSource": str(model), "Device": "cpu", "Shots": "0"}

    def run(values: dict) -> subprocess.CompletedProcess:
        return _openjd("run", str(TEMPLATE), *params, *[a for k, v in values.items() for a in ("-p", f"{k}={v}")])

    proc = run(good)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    shot = out / "sh010"
    assert json.loads((shot / "summary.json").read_text())["status"] == "ok"
    assert (shot / f"cam {touch} é.chan").is_file() and (shot / "pts;*#.glb").is_file(), sorted(shot.iterdir())
    assert "into 'n $(touch INJ5)`x`;*#é'" in log, log

    for name, value in [("FrameOptions", f"--stride 1 # {touch}"), ("ExtraArgs", f"; touch {tmp_path}/INJ3"),
                        ("ModelSource", f"-x {touch}"), ("Device", "cpu;touch INJ"), ("Shots", "0;touch INJ")]:
        proc = run({**good, "ExtraArgs": "", name: value})
        log = proc.stdout + proc.stderr
        assert proc.returncode != 0, (name, log)
        if name in ("FrameOptions", "ExtraArgs"):  # refused by our command, in one line
            assert f"vggt: error: --options {value!r}: unrecognized arguments: " in log, log
        elif name == "ModelSource":  # taken as the model's name, intact
            assert f"weights file {value} does not exist" in log, log
    assert sorted(p.name for p in tmp_path.iterdir()) == [root.name], "a hostile value ran as a command"
