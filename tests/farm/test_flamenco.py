"""The Flamenco job type (farm/flamenco/vggt-reconstruct.js): its Node tests against Flamenco's documented
job-type contract (tests/farm/flamenco.test.js, flamenco_contract.js), and its command line read back by
the Blender command it runs."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FARM_TESTS = Path(__file__).parent
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (needed to run the "
                                "Flamenco job type's tests: node --test tests/farm/)")


@needs_node
def test_flamenco_job_type_under_node():
    proc = subprocess.run(["node", "--test", str(FARM_TESTS)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "# pass 4" in proc.stdout and "# fail 0" in proc.stdout, proc.stdout[-2000:]


@needs_node
def test_flamenco_task_argv_means_what_the_settings_say(tmp_path):
    """The Worker's argument list for a task, parsed by ``blender -b -c vggt``'s own parser."""
    pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")
    sys.path.insert(0, str(REPO))
    from vggt_blender.command_line import cli
    from vggt_core.run.cli_options import apply_options

    hostile = "$(touch x) `id`; * # é"
    settings = {"shot_manifest": f"/mnt/{hostile}/shots.csv", "shots": "4", "output_dir": "-o dir",
                "model_source": "", "device": "cpu", "frame_options": "--max-frames 40 --fps=4",
                "extra_args": f"--name '{hostile}' --export-colmap C:\\colmap\\sh --lens shared"}
    proc = subprocess.run(["node", str(FARM_TESTS / "flamenco_contract.js"), json.dumps(settings)],
                          capture_output=True, text=True, timeout=60, check=True)
    argv = json.loads(proc.stdout)
    assert argv[:5] == ["blender", "-b", "-y", "-c", "vggt"]
    parser = cli._parser()
    args = parser.parse_args(argv[5:])
    apply_options(parser, args, args.options)
    assert (args.manifest, args.shot_index, args.out, args.device, args.model) == (
        f"/mnt/{hostile}/shots.csv", 4, "-o dir", "cpu", "")
    assert (args.max_frames, args.fps, args.name, args.export_colmap, args.lens) == (
        40, 4.0, hostile, "C:\\colmap\\sh", "shared")
