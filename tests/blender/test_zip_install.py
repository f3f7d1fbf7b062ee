"""The extension zips from install/build_extension.py: one per platform, each valid, each resolving
vggt_core's dependencies from its own wheels; the Linux one installs into a clean Blender and works
end to end.

The platform checks run Blender's own ``blender_ext.py validate`` on every zip and a pip resolver
dry-run (``pip install --dry-run --no-index --platform ... --python-version ...``) against the zip's
wheels alone, for each platform and both Pythons Blender runs. Blender's own numpy and torch
(installed by *Install Dependencies*) are stand-in wheels holding only metadata, at the lowest
version the pins allow: a stand-in of Blender's bundled Python that tests only our side (every other
requirement must come from the zip).

Each install check runs bpy in a subprocess with BLENDER_USER_RESOURCES set to a temporary folder (so the
developer's own Blender configuration is never touched) and the repository's editable vggt_core
hidden (so the copy from the extension's bundled wheel is what gets imported). It runs in every
environment install/test.sh uses: bpy 5.0 (Python 3.11) and bpy 5.2 LTS (Python 3.13), each picking
the bundled wheels for its own Python; from the 3.11 run, bpy 4.2 LTS too (install, PyAV; no torch there).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
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
from vggt_core.network.weights import save_checkpoint  # noqa: E402

if importlib.util.find_spec("bpy") is None:
    pytest.skip("bpy is not installed (run bash install/setup.sh)", allow_module_level=True)


PLATFORMS = ("linux-x64", "macos-arm64", "windows-x64")
#: pip --platform tags each platform's Blender loads (Linux: Blender's glibc 2.28; macOS: 14 on
#: Apple silicon, the minimum docs/artist.md states): what an artist's machine accepts, not the build's list.
MACHINE_TAGS = {
    "linux-x64": [f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)] + ["manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": [f"macosx_{major}_0_{arch}" for major in range(14, 10, -1) for arch in ("arm64", "universal2")]
    + [f"macosx_10_{minor}_universal2" for minor in range(15, 8, -1)],
}
#: Stand-ins for Blender's own numpy, per Python (the lowest version pyproject allows there), and for
#: torch (installed by Install Dependencies; pyproject's lower bound).
PROVIDED = {"3.11": {"numpy": "1.26.0", "torch": "2.2.0"}, "3.13": {"numpy": "2.2.0", "torch": "2.2.0"}}


def _load_build():
    spec = importlib.util.spec_from_file_location("vggt_build_extension", ROOT / "install" / "build_extension.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build


@pytest.fixture(scope="session")
def extension_zips(tmp_path_factory) -> dict[str, Path]:
    """Every platform's zip, built once per session (wheels from the cache keyed by the pins;
    downloaded on a cold cache)."""
    out = tmp_path_factory.mktemp("dist")
    return _load_build().main(["--output-dir", str(out), "--staging-dir", str(out / "staging" / "vggt_blender")])


@pytest.fixture(scope="session")
def extension_zip(extension_zips) -> Path:
    """The Linux zip: the one this machine's bpy can install."""
    return extension_zips["linux-x64"]


def _manifest(zip_path: Path) -> dict:
    return tomllib.loads(zipfile.ZipFile(zip_path).read("blender_manifest.toml").decode())


def _wheels(zip_path: Path) -> list[str]:
    return sorted(n.removeprefix("wheels/") for n in zipfile.ZipFile(zip_path).namelist() if n.startswith("wheels/"))


def _platform_tags(wheel: str) -> list[str]:
    return wheel.removesuffix(".whl").split("-")[-1].split(".")


def _loads_on(wheel: str, minor: int) -> bool:
    """Whether CPython 3.<minor> loads this compiled wheel: its own cp3<minor> build, or an abi3
    build for an earlier 3.x (the stable ABI)."""
    python, abi = wheel.split("-")[-3:-1]
    built_for = int(python.removeprefix("cp3"))
    return built_for == minor or (abi == "abi3" and built_for <= minor)


def test_one_zip_per_platform_each_with_only_its_own_wheels(extension_zips):
    assert sorted(extension_zips) == list(PLATFORMS)  # macos-x64 is left out: pycolmap has no wheels
    for platform, zip_path in extension_zips.items():
        assert zip_path.name == f"vggt_blender-0.1.0-{platform.replace('-', '_')}.zip"
        generated = _manifest(zip_path)["build"]["generated"]
        assert generated["platforms"] == [platform]
        wheels = _wheels(zip_path)
        assert sorted(w.removeprefix("./wheels/") for w in generated["wheels"]) == wheels
        for wheel in wheels:
            tags = _platform_tags(wheel)
            assert tags == ["any"] or set(tags) & set(MACHINE_TAGS[platform]), (platform, wheel)
        compiled = {w.split("-")[0] for w in wheels if _platform_tags(w) != ["any"]}
        assert {"av", "pycolmap", "openimageio", "pillow"} <= compiled, (platform, compiled)
        for name in compiled:  # one for each Python Blender runs
            for minor in (11, 13):
                assert any(_loads_on(w, minor) for w in wheels if w.split("-")[0] == name), (platform, name, minor)
        assert not any(w.startswith(("torch-", "numpy-")) for w in wheels), (platform, wheels)


def test_blender_validates_every_zip(extension_zips):
    tool = _load_build().blender_ext_tool()
    for zip_path in extension_zips.values():
        proc = subprocess.run([sys.executable, str(tool), "validate", str(zip_path)], capture_output=True, text=True)
        assert proc.returncode == 0 and "Success" in proc.stdout, proc.stdout + proc.stderr


def test_macos_zip_needs_the_macos_the_readme_states(extension_zips):
    needed = max(min((int(m[1]), int(m[2])) for t in _platform_tags(w) if (m := re.match(r"macosx_(\d+)_(\d+)_", t)))
                 for w in _wheels(extension_zips["macos-arm64"]) if _platform_tags(w) != ["any"])
    assert needed == (14, 0)  # PyAV and pycolmap
    assert "macOS 14" in (ROOT / "docs" / "artist.md").read_text()
    assert "macOS 14" in (ROOT / "blender_manifest.toml").read_text()


def _python(version: str) -> str:
    """An interpreter of ``version``: pip evaluates the wheels' ``python_version`` markers against the
    Python it runs in, whatever ``--python-version`` says, so each Python's check needs its own."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    venv = ROOT / {"3.11": ".venv", "3.13": ".venv-py313"}[version] / "bin" / "python"
    if not venv.exists():
        pytest.skip(f"no Python {version} here to run pip's resolver in (bash install/setup.sh makes {venv.parent.parent.name})")
    return str(venv)


def _stand_in_wheel(folder: Path, name: str, version: str) -> None:
    """A metadata-only wheel: the resolver sees the distribution, nothing is installable from it."""
    dist = f"{name.replace('-', '_')}-{version}"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        whl.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{dist}.dist-info/RECORD", "")


@pytest.mark.parametrize("python_version", ["3.11", "3.13"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_dependency_resolves_from_the_zip_alone(extension_zips, tmp_path, platform, python_version):
    from packaging.requirements import Requirement

    zip_wheels, provided = tmp_path / "zip", tmp_path / "provided"
    provided.mkdir()
    with zipfile.ZipFile(extension_zips[platform]) as z:
        z.extractall(zip_wheels, [n for n in z.namelist() if n.startswith("wheels/")])
    for name, version in PROVIDED[python_version].items():
        _stand_in_wheel(provided, name, version)
    report = tmp_path / "report.json"
    cmd = [_python(python_version), "-m", "pip", "install", "--dry-run", "--quiet", "--no-index", "--ignore-installed",
           "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
           "--target", str(tmp_path / "target"), "--report", str(report),
           "--find-links", str(zip_wheels / "wheels"), "--find-links", str(provided), "vggt-core"]
    for tag in MACHINE_TAGS[platform]:
        cmd += ["--platform", tag]
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(env, PIP_CONFIG_FILE=os.devnull))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    installed = {i["metadata"]["name"].lower().replace("_", "-"): i["download_info"]["url"]
                 for i in json.loads(report.read_text())["install"]}
    with open(ROOT / "pyproject.toml", "rb") as f:
        pins = [Requirement(d) for d in tomllib.load(f)["project"]["dependencies"]]
    markers = {"python_version": python_version, "python_full_version": f"{python_version}.0"}
    runtime = {r.name.lower().replace("_", "-") for r in pins if r.marker is None or r.marker.evaluate(markers)}
    assert runtime | {"vggt-core"} <= set(installed), sorted(installed)
    from_zip = {n for n, url in installed.items() if url.startswith((zip_wheels / "wheels").as_uri())}
    assert set(installed) - from_zip <= set(PROVIDED[python_version]), sorted(set(installed) - from_zip)
    assert runtime - set(PROVIDED[python_version]) <= from_zip


def _probe(zip_path: Path, res: Path, *extra: str, env: dict[str, str] | None = None,
           python: str = sys.executable) -> dict:
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(res), **(env or {}))
    proc = subprocess.run([python, str(PROBE), str(zip_path), str(res), *extra], env=env, cwd=res,
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
    assert out["gpu_variant"] == "default"  # Linux: PyPI's torch, the CUDA build


def test_zip_reads_a_video_with_its_bundled_pyav(extension_zip, tmp_path):
    """PyAV (compiled, abi3 wheels per Python) comes from the zip and decodes a video in this Blender."""
    video = write_video(tmp_path / "clip.mp4", n=6)
    res = tmp_path / "blender_user"
    res.mkdir()
    out = _probe(extension_zip, res, "--video", str(video))
    assert out["install_result"] == ["FINISHED"]
    assert Path(out["av_file"]).resolve().is_relative_to(res.resolve()), out["av_file"]
    assert out["video_frames"] == 6 and out["video_shape"] == [48, 64, 3], out


def test_zip_installs_in_blender_42_and_reads_a_video(extension_zip, tmp_path):
    """The same zip in the 4.2 LTS module (.venv-bpy42: no torch, so no reconstruction there)."""
    python = ROOT / ".venv-bpy42" / "bin" / "python"
    if os.environ.get("VGGT_SKIP_BPY42") or not python.exists() or sys.version_info[:2] != (3, 11):
        pytest.skip("runs from the Python 3.11 run, with .venv-bpy42 (bash install/setup.sh; VGGT_SKIP_BPY42 unset)")
    video = write_video(tmp_path / "clip.mp4", n=6)
    res = tmp_path / "blender_user"
    res.mkdir()
    out = _probe(extension_zip, res, "--video", str(video), python=str(python))
    assert out["install_result"] == ["FINISHED"] and "bl_ext.user_default.vggt_blender" in out["enabled"]
    for module in ("vggt_core_file", "av_file"):
        assert Path(out[module]).resolve().is_relative_to(res.resolve()), out[module]
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
