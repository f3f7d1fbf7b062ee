"""Build the Blender extension zips, one per platform: dist/vggt_blender-<version>-<platform>.zip.

Staging folder (build/extension/vggt_blender): the files of the ``vggt_blender/`` package, the
manifest (its ``platforms`` and ``wheels`` filled in here), ``deps.py`` (a copy of
install/deps.py, the "Install dependencies" back end) with ``pyproject.toml`` (where deps.py reads
the pins), and ``wheels/``:

* a wheel of ``vggt_core`` built from this repository (``pip wheel --no-deps``);
* binary wheels, for each platform asked for and each Python Blender runs (3.11 in 4.2 LTS-5.0,
  3.13 from 5.1), of the dependencies in pyproject.toml minus torch (installed from the preferences:
  per-platform/CUDA builds of hundreds of MB to GBs) and minus Blender's own numpy (resolved
  against its version, from pyproject's numpy pins). Blender installs only the wheels that match its own
  platform and Python (the newest version when several do, e.g. an abi3 wheel for 3.11 and one for 3.12+).

Downloaded wheels are kept in a cache folder keyed by the pins, the platform's pip tags and the
Python (``--wheel-cache``, default ``$VGGT_WHEEL_CACHE`` or ``~/.cache/vggt-blender/wheels``): a
rebuild with the same pins downloads nothing. Delete the folder to pick up newer releases.

Then Blender's own extension tool (bl_pkg/cli/blender_ext.py from the installed bpy wheel) builds
one zip per platform (``build --split-platforms``: each zip gets only the wheels whose tags match
its platform, and ``platforms`` in its manifest) and validates each. Usage::

    .venv/bin/python install/build_extension.py [--platforms linux-x64 windows-x64 macos-arm64]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYTHON_VERSIONS = ("3.11", "3.13")  # Blender 4.2 LTS to 5.0, and 5.1 on (5.2 LTS)
#: The macOS zip's minimum macOS: PyAV 18/19 and pycolmap 4.2 publish only macosx_14_0_arm64 wheels.
MACOS_MIN = (14, 0)
#: pip --platform tags per Blender platform. pip matches tags exactly and does not expand them, so
#: every macOS version up to MACOS_MIN is listed: pip picks the newest release whose wheel loads there.
PIP_PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": [f"macosx_{major}_0_{arch}" for major in range(MACOS_MIN[0], 10, -1) for arch in ("arm64", "universal2")]
    + [f"macosx_10_{minor}_universal2" for minor in range(15, 8, -1)],
}
#: Blender platforms no zip is built for, and why (said in docs/artist.md too).
UNSUPPORTED_PLATFORMS = {"macos-x64": "pycolmap >= 4.2.1 publishes no macOS x86_64 wheels"}
#: Distributions left to Blender's own Python: its numpy (Blender's modules are built against it).
#: Other packages Blender bundles (idna, requests, ...) are bundled when a dependency needs them:
#: Blender's copies can be older than required (4.2 ships idna 3.6; httpx2 needs >= 3.18), so the zip
#: alone must satisfy every requirement.
BLENDER_PROVIDES = {"numpy"}
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


def _marker_env(python_version: str) -> dict[str, str]:
    return {"python_version": python_version, "python_full_version": f"{python_version}.0"}


def dependency_requirements(python_version: str) -> tuple[list[str], list[str]]:
    """(to bundle, constraints) for one Python: pyproject's dependencies whose markers hold there,
    without markers; constraints pin what Blender provides (numpy), so that the bundled wheels are
    resolved against Blender's numpy, not the newest one."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        deps = [Requirement(d) for d in tomllib.load(f)["project"]["dependencies"]]
    deps = [d for d in deps if d.marker is None or d.marker.evaluate(_marker_env(python_version))]
    bundle = [f"{d.name}{d.specifier}" for d in deps if _dist_name(d.name) not in NOT_BUNDLED | BLENDER_PROVIDES]
    provided = [f"{d.name}{d.specifier}" for d in deps if _dist_name(d.name) in BLENDER_PROVIDES]
    return bundle, provided


def default_wheel_cache() -> Path:
    return Path(os.environ.get("VGGT_WHEEL_CACHE") or Path.home() / ".cache" / "vggt-blender" / "wheels")


def download_wheels(cache: Path, platform: str, python_version: str) -> Path:
    """Folder of the binary wheels of the bundled dependencies (and their dependencies) for one
    Blender platform and Python, downloaded once per pins/tags/Python: ``cache/<platform>-py<ver>-<key>``."""
    bundle, provided = dependency_requirements(python_version)
    key = hashlib.sha256(json.dumps([PIP_PLATFORMS[platform], bundle, provided]).encode()).hexdigest()[:16]
    folder = cache / f"{platform}-py{python_version}-{key}"
    if folder.is_dir():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=folder.name + ".", dir=cache) as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(provided) + "\n")
        cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", python_version,
               "--implementation", "cp", "--dest", str(Path(tmp) / "wheels"), "--quiet", "--constraint", str(constraints)]
        for tag in PIP_PLATFORMS[platform]:
            cmd += ["--platform", tag]
        _run(cmd + bundle)
        (Path(tmp) / "wheels").rename(folder)  # whole or not at all: an interrupted download leaves no entry
    return folder


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


def stage(staging: Path, platforms: list[str], package_dir: Path = ROOT / "vggt_blender",
          cache: Path | None = None) -> None:
    """Fill ``staging`` with the package, the installer, the manifest and every platform's wheels."""
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(package_dir, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "install" / "deps.py", staging / "deps.py")
    shutil.copy2(ROOT / "pyproject.toml", staging / "pyproject.toml")
    wheels = staging / "wheels"
    wheels.mkdir()
    build_core_wheel(wheels)
    for platform in platforms:
        for python_version in PYTHON_VERSIONS:
            for wheel in download_wheels(cache or default_wheel_cache(), platform, python_version).glob("*.whl"):
                # pulled in as dependencies of the bundled ones: Blender's own copies stay in use
                if _dist_name(wheel.name) not in BLENDER_PROVIDES | NOT_BUNDLED and not (wheels / wheel.name).exists():
                    shutil.copy2(wheel, wheels / wheel.name)
    write_manifest(staging, sorted(w.name for w in wheels.glob("*.whl")), platforms)


def wheel_platform_tags(wheel_name: str) -> list[str]:
    """The platform tags of a wheel file name ("av-19.0-cp311-abi3-macosx_14_0_arm64.whl" -> ["macosx_14_0_arm64"])."""
    return wheel_name.removesuffix(".whl").split("-")[-1].split(".")


def minimum_macos(wheel_names: list[str]) -> tuple[int, int]:
    """The macOS version a set of wheels needs: the highest ``macosx_<major>_<minor>`` tag minimum
    among them (a wheel with several tags needs the lowest of its own)."""
    needed = [(0, 0)]
    for name in wheel_names:
        versions = [(int(m[1]), int(m[2])) for t in wheel_platform_tags(name) if (m := re.match(r"macosx_(\d+)_(\d+)_", t))]
        if versions:
            needed.append(min(versions))
    return max(needed)


def main(argv: list[str] | None = None) -> dict[str, Path]:
    """Build and validate one zip per platform; returns {Blender platform: zip path}."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platforms", nargs="+", choices=sorted(PIP_PLATFORMS), default=sorted(PIP_PLATFORMS),
                        help="Blender platforms to build a zip for (default: all of them; macos-x64 is not "
                             "offered: " + UNSUPPORTED_PLATFORMS["macos-x64"] + ")")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    parser.add_argument("--staging-dir", type=Path, default=ROOT / "build" / "extension" / "vggt_blender")
    parser.add_argument("--package-dir", type=Path, default=ROOT / "vggt_blender",
                        help="the add-on package to stage (default: vggt_blender/)")
    parser.add_argument("--wheel-cache", type=Path, default=None,
                        help="downloaded wheels, kept per pins (default: $VGGT_WHEEL_CACHE or ~/.cache/vggt-blender/wheels)")
    args = parser.parse_args(argv)

    if not (args.package_dir / "__init__.py").is_file():
        sys.exit(f"build_extension: {args.package_dir}/__init__.py is missing")
    platforms = sorted(set(args.platforms))
    stage(args.staging_dir, platforms, args.package_dir, args.wheel_cache)
    with open(ROOT / "blender_manifest.toml", "rb") as f:
        manifest = tomllib.load(f)
    zips = {p: args.output_dir / f"{manifest['id']}-{manifest['version']}-{p.replace('-', '_')}.zip" for p in platforms}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for zip_path in zips.values():
        zip_path.unlink(missing_ok=True)
    tool = blender_ext_tool()
    _run([sys.executable, str(tool), "build", "--split-platforms", "--source-dir", str(args.staging_dir),
          "--output-dir", str(args.output_dir)])
    for zip_path in zips.values():
        _run([sys.executable, str(tool), "validate", str(zip_path)])
        print(f"{zip_path} ({zip_path.stat().st_size / 2**20:.1f} MiB)")
    return zips


if __name__ == "__main__":
    main()
