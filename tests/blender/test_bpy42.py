"""Run the importer, mask-raster and frame tests under Blender 4.2 LTS (the extension's minimum) in a subprocess.

The bpy 4.2 module lives in its own venv (``.venv-bpy42``; one Python process can load only one bpy),
so this test shells out to that interpreter. That venv also holds the lowest numpy, pillow and PyAV
pyproject.toml allows, so tests/core/test_frames.py there tests those bounds. Every test must run:
a skip there (a missing module, say) fails this test, and the run's summary line is printed.
Skipped when the venv is absent.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PY42 = Path(os.environ.get("VGGT_BPY42_PYTHON", REPO / ".venv-bpy42" / "bin" / "python"))
TESTS = ["tests/blender/test_builders.py", "tests/blender/test_reimport.py", "tests/blender/test_point_controls.py",
         "tests/blender/test_undistorted_plate.py", "tests/blender/test_zoom_lens.py", "tests/blender/test_redistort.py",
         "tests/blender/test_mask_shapes.py",
         "tests/core/test_frames.py"]


@pytest.mark.blender
def test_builders_and_frames_under_bpy42(capsys):
    if not PY42.exists():
        pytest.skip(f"no Blender 4.2 venv at {PY42} (python -m venv .venv-bpy42 && "
                    ".venv-bpy42/bin/pip install bpy==4.2.* pytest)")
    probe = subprocess.run([str(PY42), "-c", "import bpy, pytest; print(bpy.app.version_string)"],
                           capture_output=True, text=True, cwd=REPO)
    if probe.returncode != 0:
        pytest.skip(f"{PY42} cannot import bpy and pytest: {probe.stderr.strip().splitlines()[-1:]}")
    assert probe.stdout.strip().startswith("4.2"), probe.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    run = subprocess.run([str(PY42), "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *TESTS],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    tail = "\n".join((run.stdout + run.stderr).splitlines()[-30:])
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    with capsys.disabled():  # shown in every run, like the outer run's own summary
        print(f"\n[bpy {probe.stdout.strip()}, {' '.join(TESTS)}] {summary}")
    assert run.returncode == 0, f"bpy {probe.stdout.strip()} run failed:\n{tail}"
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|skipped|failed|errors?)", summary)}
    assert counts.get("passed", 0) > 0 and not counts.get("skipped"), f"every test must run under 4.2:\n{tail}"
