"""The Flamenco job type (farm/flamenco/vggt-reconstruct.js): its Node tests, run by pytest."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (needed to run the "
                    "Flamenco job type's tests: node --test farm/flamenco/)")
def test_flamenco_job_type_under_node():
    proc = subprocess.run(["node", "--test", "farm/flamenco/"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "# pass 4" in proc.stdout and "# fail 0" in proc.stdout, proc.stdout[-2000:]
