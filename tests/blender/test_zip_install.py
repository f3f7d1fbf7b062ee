"""The extension zip from install/build_extension.py installs into a clean Blender and works end to end.

Each check runs bpy in a subprocess with BLENDER_USER_RESOURCES set to a temporary folder (so the
developer's own Blender configuration is never touched) and the repository's editable vggt_core
hidden (so the copy from the extension's bundled wheel is what gets imported). It runs in every
environment install/test.sh uses: bpy 5.0 (Python 3.11) and bpy 5.2 LTS (Python 3.13), each picking
the bundled wheels for its own Python.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.blender
ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("zip_install_probe.py")
N_IMAGES = 3
sys.path[:0] = [str(ROOT / "tests" / "core")]

from core_media import write_video  # noqa: E402
from vggt_core.weights import save_checkpoint  # noqa: E402

if importlib.util.find_spec("bpy") is None:
    pytest.skip("bpy is not installed (run bash install/setup.sh)", allow_module_level=True)


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    """dist zip built once per session (downloads the dependency wheels on a cold pip cache)."""
    spec = importlib.util.spec_from_file_location("vggt_build_extension", ROOT / "install" / "build_extension.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    out = tmp_path_factory.mktemp("dist")
    return build.main(["--output-dir", str(out), "--staging-dir", str(out / "staging" / "vggt_blender")])


def _probe(zip_path: Path, res: Path, *extra: str, env: dict[str, str] | None = None) -> dict:
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(res), **(env or {}))
    proc = subprocess.run([sys.executable, str(PROBE), str(zip_path), str(res), *extra], env=env, cwd=res,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE:")]
    assert proc.returncode == 0 and lines, f"probe failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("PROBE:"):])


def test_zip_is_valid_and_bundles_the_core_wheel(extension_zip):
    names = zipfile.ZipFile(extension_zip).namelist()
    assert {"blender_manifest.toml", "__init__.py", "deps.py", "pyproject.toml"} <= set(names)
    wheels = [n for n in names if n.startswith("wheels/")]
    assert any(n.startswith("wheels/vggt_core-") for n in wheels)
    assert not any(n.startswith(("wheels/torch-", "wheels/numpy-")) for n in wheels)
    # compiled wheels for both Pythons Blender runs: 3.11 (4.2 LTS-5.0) and 3.13 (5.1 on)
    assert any("-cp311-" in n for n in wheels if n.startswith("wheels/pillow-")), wheels
    assert any("-cp313-" in n for n in wheels if n.startswith("wheels/pillow-")), wheels


def test_zip_installs_and_enables(extension_zip, tmp_path):
    res = tmp_path / "blender_user"
    res.mkdir()
    out = _probe(extension_zip, res)
    assert out["install_result"] == ["FINISHED"]
    assert "bl_ext.user_default.vggt_blender" in out["enabled"]
    assert "VGGT_OT_run" in out["operator_classes"], out["operator_classes"]
    # vggt_core comes from the bundled wheel, installed under the isolated user folder
    assert Path(out["vggt_core_file"]).resolve().is_relative_to(res.resolve()), out["vggt_core_file"]
    assert (res / "extensions" / "user_default" / "vggt_blender" / "blender_manifest.toml").is_file()
    # the bundled installer finds the bundled pyproject.toml: torch to install, numpy only as a constraint
    to_install, constraints = out["deps_requirements"]
    assert any(r.startswith("torch") for r in to_install) and not any(r.startswith("numpy") for r in to_install)
    assert [c for c in constraints if c.startswith("numpy")]


def test_zip_reads_a_video_with_its_bundled_pyav(extension_zip, tmp_path):
    """PyAV (compiled, abi3 wheels per Python) comes from the zip and decodes a video in this Blender."""
    video = write_video(tmp_path / "clip.mp4", n=6)
    res = tmp_path / "blender_user"
    res.mkdir()
    out = _probe(extension_zip, res, "--video", str(video))
    assert out["install_result"] == ["FINISHED"]
    assert Path(out["av_file"]).resolve().is_relative_to(res.resolve()), out["av_file"]
    assert out["video_frames"] == 6 and out["video_shape"] == [48, 64, 3], out


def _write_images(folder: Path) -> None:
    """A few textured frames of a shifting random pattern (PNG, 96x64)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    base = (rng.random((64, 120, 3)) * 255).astype(np.uint8)
    folder.mkdir()
    for i in range(N_IMAGES):
        Image.fromarray(base[:, 4 * i:4 * i + 96]).save(folder / f"frame_{i + 1:04d}.png")


def test_zip_reconstructs_end_to_end(extension_zip, tmp_path, tiny_model):
    weights = save_checkpoint(tiny_model, tmp_path / "tiny.safetensors")
    images = tmp_path / "images"
    _write_images(images)
    res = tmp_path / "blender_user"
    res.mkdir()
    out = _probe(extension_zip, res, "--images", str(images), env={"VGGT_WEIGHTS": str(weights)})
    assert out["run_result"] == ["FINISHED"], out["last_message"]
    assert out["cameras"] >= N_IMAGES, out
    assert max(out["mesh_vertices"].values(), default=0) > 0, out
