"""Build the Blender extension zip: dist/vggt_blender-<version>.zip.

Staging folder (build/extension/vggt_blender): the files of the ``vggt_blender/`` package, the
manifest (its ``platforms`` and ``wheels`` filled in here), ``deps.py`` (a copy of
install/deps.py, the "Install dependencies" back end) with ``pyproject.toml`` (where deps.py reads
the pins), and ``wheels/``:

* a wheel of ``vggt_core`` built from this repository (``pip wheel --no-deps``);
* binary wheels, for each platform asked for and each Python Blender runs (3.11 in 4.2 LTS-5.0,
  3.13 from 5.1), of the dependencies in pyproject.toml minus torch (installed from the preferences:
  per-platform/CUDA builds of hundreds of MB to GBs) and minus what Blender already bundles (numpy,
  requests and its deps, zstandard, cython). Blender installs only the wheels that match its own
  platform and Python (the newest version when several do, e.g. an abi3 wheel for 3.11 and one for 3.12+).

Then Blender's own extension tool (bl_pkg/cli/blender_ext.py from the installed bpy wheel) builds
and validates the zip. Usage::

    .venv/bin/python install/build_extension.py [--platforms linux-x64 windows-x64 macos-arm64 macos-x64]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_VERSIONS = ("3.11", "3.13")  # Blender 4.2 LTS to 5.0, and 5.1 on (5.2 LTS)
#: pip --platform tags per Blender platform (pip does not expand these itself).
PIP_PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_11_0_arm64", "macosx_11_0_universal2", "macosx_10_9_universal2"],
    "macos-x64": ["macosx_10_13_x86_64", "macosx_10_9_x86_64", "macosx_10_9_universal2"],
}
#: Distributions Blender 4.2/5.0 ship in their Python (bundling them would shadow Blender's copies).
BLENDER_PROVIDES = {"numpy", "requests", "certifi", "idna", "urllib3", "charset-normalizer", "zstandard", "cython"}
NOT_BUNDLED = {"torch"}


def _dist_name(filename: str) -> str:
    """Normalised distribution name from a wheel file name."""
    return re.sub(r"[-_.]+", "-", filename.split("-")[0]).lower()


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    if subprocess.run(cmd).returncode != 0:
        sys.exit(f"build_extension: failed (see the output above): {' '.join(cmd[1:4])} ...")


def blender_ext_tool() -> Path:
    """bl_pkg/cli/blender_ext.py from the bpy module installed in this Python."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        sys.exit("build_extension: bpy is not installed in this Python (run bash install/setup.sh, use .venv/bin/python)")
    bpy_dir = Path(spec.origin).parent  # site-packages/bpy/__init__.so; the tool is in bpy/<version>/scripts
    found = sorted(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        sys.exit(f"build_extension: blender_ext.py not found under {bpy_dir}")
    return found[-1]


def dependency_requirements() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    return [d for d in deps if _dist_name(re.split(r"[<>=!~;\[ ]", d)[0]) not in NOT_BUNDLED | BLENDER_PROVIDES]


def download_wheels(wheels: Path, platform: str, python_version: str) -> None:
    """Binary wheels of the bundled dependencies (and their dependencies) for one Blender platform and Python."""
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", python_version,
           "--implementation", "cp", "--dest", str(wheels), "--quiet"]
    for tag in PIP_PLATFORMS[platform]:
        cmd += ["--platform", tag]
    _run(cmd + dependency_requirements())


def build_core_wheel(wheels: Path) -> None:
    shutil.rmtree(ROOT / "build" / "lib", ignore_errors=True)  # setuptools reuses it: no stale modules
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
          "--wheel-dir", str(wheels), str(ROOT)])


def write_manifest(staging: Path, wheel_files: list[str], platforms: list[str]) -> None:
    text = (ROOT / "blender_manifest.toml").read_text()
    text, n = re.subn(r"(?m)^platforms = .*$", "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", text)
    assert n == 1, "blender_manifest.toml needs one top-level `platforms = [...]` line"
    wheels = "wheels = [\n" + "".join(f'  "./wheels/{w}",\n' for w in wheel_files) + "]\n\n"
    text = text.replace("\n[permissions]", "\n" + wheels + "[permissions]", 1)
    (staging / "blender_manifest.toml").write_text(text)


def stage(staging: Path, platforms: list[str], package_dir: Path = ROOT / "vggt_blender") -> None:
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(package_dir, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "install" / "deps.py", staging / "deps.py")
    shutil.copy2(ROOT / "pyproject.toml", staging / "pyproject.toml")
    wheels = staging / "wheels"
    wheels.mkdir()
    build_core_wheel(wheels)
    for platform in platforms:
        for python_version in PYTHON_VERSIONS:
            download_wheels(wheels, platform, python_version)
    for wheel in wheels.glob("*.whl"):  # pulled in as dependencies of the bundled ones
        if _dist_name(wheel.name) in BLENDER_PROVIDES | NOT_BUNDLED:
            wheel.unlink()
    write_manifest(staging, sorted(w.name for w in wheels.glob("*.whl")), platforms)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platforms", nargs="+", choices=sorted(PIP_PLATFORMS), default=["linux-x64"],
                        help="Blender platforms to bundle wheels for (default: linux-x64)")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    parser.add_argument("--staging-dir", type=Path, default=ROOT / "build" / "extension" / "vggt_blender")
    parser.add_argument("--package-dir", type=Path, default=ROOT / "vggt_blender",
                        help="the add-on package to stage (default: vggt_blender/)")
    args = parser.parse_args(argv)

    if not (args.package_dir / "__init__.py").is_file():
        sys.exit(f"build_extension: {args.package_dir}/__init__.py is missing")
    stage(args.staging_dir, args.platforms, args.package_dir)
    with open(ROOT / "blender_manifest.toml", "rb") as f:
        manifest = tomllib.load(f)
    zip_path = args.output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    args.output_dir.mkdir(parents=True, exist_ok=True)
    zip_path.unlink(missing_ok=True)
    tool = blender_ext_tool()
    _run([sys.executable, str(tool), "build", "--source-dir", str(args.staging_dir), "--output-dir", str(args.output_dir)])
    _run([sys.executable, str(tool), "validate", str(zip_path)])
    print(f"{zip_path} ({zip_path.stat().st_size / 2**20:.1f} MiB)")
    return zip_path


if __name__ == "__main__":
    main()
