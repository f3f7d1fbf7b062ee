"""install/demo.sh and install/test.sh: which environments each sets up, run for real in a copy of the project
whose interpreters are stubs that record their arguments (nothing is installed, nothing downloaded)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A Python that does nothing but log its arguments; "-m venv DIR" makes DIR a "venv" holding this stub.
STUB = """#!/usr/bin/env bash
echo "$0 $*" >>"$STUB_LOG"
if [ "${1:-}" = -m ] && [ "${2:-}" = venv ]; then mkdir -p "$3/bin" && cp "$STUB_PYTHON" "$3/bin/python"; fi
exit 0
"""
LIBS = "libX11.so.6 libXi.so.6 libxkbcommon.so.0 libSM.so.6 libGL.so.1 libEGL.so.1 libXrender.so.1 libXfixes.so.3"


@pytest.fixture
def project(tmp_path):
    """A copy of the scripts and pyproject.toml, stub interpreters first on PATH; returns (root, env, log)."""
    if shutil.which("bash") is None or shutil.which("sha256sum") is None and shutil.which("shasum") is None:
        pytest.skip("needs bash and sha256sum or shasum")
    root = tmp_path / "project"
    (root / "install").mkdir(parents=True)
    for name in ("install/setup.sh", "install/demo.sh", "install/test.sh", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    stub = bin_ / "python-stub"
    stub.write_text(STUB)
    (bin_ / "ldconfig").write_text(f"#!/usr/bin/env bash\nprintf '%s\\n' {LIBS}\n")  # bpy's libraries "found"
    for path in (stub, bin_ / "ldconfig"):
        path.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VGGT_")}
    env.update(PATH=f"{bin_}{os.pathsep}{env['PATH']}", STUB_LOG=str(log), STUB_PYTHON=str(stub),
               VGGT_PYTHON=str(stub), VGGT_PYTHON313=str(stub))
    return root, env, log


def _venvs_made(log: Path) -> list[str]:
    return [line.split()[-1] for line in log.read_text().splitlines() if " -m venv " in line]


def test_the_demo_sets_up_only_what_it_runs_in_and_the_tests_set_up_the_rest(project):
    root, env, log = project
    done = subprocess.run(["bash", "install/demo.sh", "--tiny"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert _venvs_made(log) == [".venv"]  # no .venv-bpy42, no .venv-py313 (a 6.7 GB torch) for the demo
    assert log.read_text().splitlines()[-1].endswith("examples/run_demo.py --out out/demo --tiny")
    assert not (root / ".venv-bpy42").exists() and not (root / ".venv-py313").exists()

    log.write_text("")  # again: .venv's stamp holds, so nothing is rebuilt
    assert subprocess.run(["bash", "install/demo.sh"], cwd=root, env=env, capture_output=True).returncode == 0
    assert _venvs_made(log) == [] and "pip" not in log.read_text()

    done = subprocess.run(["bash", "install/test.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _venvs_made(log) == [".venv-bpy42", ".venv-py313"]  # the test command builds the test environments
    runs = [line.split()[0] for line in log.read_text().splitlines() if " -m pytest " in line]
    assert runs == [".venv/bin/python", ".venv-py313/bin/python"], runs
