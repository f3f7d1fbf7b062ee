"""Install vggt_core's runtime dependencies (torch & co.) into a folder, from Blender's own Python.

Stdlib only: it runs inside Blender before any of the dependencies exist. The extension's
"Install dependencies" operator calls :func:`install_dependencies` with a target such as
``bpy.utils.extension_path_user(__package__, path="deps", create=True)`` and *appends* that folder
to ``sys.path`` so that Blender's own numpy keeps precedence.

Where it lives: ``install/deps.py`` in the repository; ``install/build_extension.py`` copies it to
``deps.py`` at the root of the extension zip (``from . import deps`` inside the extension), together
with ``pyproject.toml``, the one place the dependencies are pinned.

Variants: ``default`` (pip's default index: CUDA build on Linux, CPU/MPS build on macOS and Windows),
``cpu``, ``cu121``, ``cu124``, ``cu128`` (the PyTorch index ``https://download.pytorch.org/whl/<variant>``),
``mps`` (alias of ``default``: PyPI's macOS wheels include MPS). :func:`variant_for` picks one for
the preferences' CPU/GPU buttons on each platform.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Callable, Sequence

TORCH_INDEX = "https://download.pytorch.org/whl/{variant}"
VARIANTS = ("default", "cpu", "cu121", "cu124", "cu128", "mps")
#: Blender bundles these (and pins numpy<2); installing them into the target would shadow its copies.
PROVIDED_BY_BLENDER = ("numpy",)


#: Variant of the preferences' "Install Dependencies (GPU)" per ``sys.platform``: PyPI's default torch
#: is the CUDA build on Linux and the MPS build on macOS; PyPI has only CPU builds for Windows.
GPU_VARIANTS = {"linux": "default", "win32": "cu128", "darwin": "mps"}


def variant_for(build: str, platform: str = sys.platform) -> str:
    """The variant for the preferences' choice ``build`` ("cpu" or "gpu") on ``platform`` (a
    ``sys.platform`` value). On macOS both are PyPI's build (CPU and MPS in one wheel; the PyTorch
    CPU index adds nothing). Raises ValueError for another build or platform."""
    if build not in ("cpu", "gpu"):
        raise ValueError(f"unknown build {build!r}; expected cpu or gpu")
    if platform not in GPU_VARIANTS:
        raise ValueError(f"no PyTorch build for platform {platform!r}; expected one of {', '.join(GPU_VARIANTS)}")
    if platform == "darwin":
        return "mps"
    return "cpu" if build == "cpu" else GPU_VARIANTS[platform]


class DependencyInstallError(RuntimeError):
    """pip failed; the message is one line naming the command's last output line."""


def _name(requirement: str) -> str:
    """Normalised distribution name of a PEP 508 requirement string ("Pillow>=10" -> "pillow")."""
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def find_pyproject() -> Path:
    """pyproject.toml beside this file (inside the extension zip) or at the repository root."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "pyproject.toml", here.parent / "pyproject.toml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"pyproject.toml not found next to {here} or in its parent")


def requirements(pyproject: str | Path | None = None) -> tuple[list[str], list[str]]:
    """Split ``[project].dependencies`` into (to_install, constraints).

    to_install: every dependency except those Blender provides; constraints: the requirement strings
    of the Blender-provided ones (e.g. ``numpy>=1.26,<2.0``), passed to pip with ``--constraint`` so
    that a package pulling numpy in transitively gets a compatible one.
    """
    with open(pyproject or find_pyproject(), "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    provided = [d for d in deps if _name(d) in PROVIDED_BY_BLENDER]
    return [d for d in deps if _name(d) not in PROVIDED_BY_BLENDER], provided


def pip_commands(
    target_dir: str | Path,
    variant: str = "cpu",
    python: str = sys.executable,
    constraint_file: str | Path | None = None,
    pyproject: str | Path | None = None,
) -> list[list[str]]:
    """The pip command lines :func:`install_dependencies` runs, in order.

    torch is installed on its own when it comes from the PyTorch index: mixing that index with PyPI in
    one resolve lets pip pick PyPI's (CUDA) torch build over the requested variant.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown torch variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    to_install, _ = requirements(pyproject)
    base = [python, "-m", "pip", "install", "--target", str(target_dir), "--upgrade",
            "--prefer-binary", "--no-input", "--disable-pip-version-check"]
    if constraint_file is not None:
        base += ["--constraint", str(constraint_file)]
    if variant in ("default", "mps"):
        return [base + to_install]
    torch = [r for r in to_install if _name(r) == "torch"]
    rest = [r for r in to_install if _name(r) != "torch"]
    return [base + torch + ["--index-url", TORCH_INDEX.format(variant=variant)], base + rest]


def _run(cmd: Sequence[str], progress: Callable[[str], None] | None) -> None:
    """Run one pip command, streaming its merged stdout/stderr lines to progress."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONNOUSERSITE="1")
    try:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", env=env)
    except OSError as exc:
        raise DependencyInstallError(f"could not start {cmd[0]}: {exc}") from exc
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line.strip():
            last = line.strip()
        if progress is not None:
            progress(line)
    if proc.wait() != 0:
        raise DependencyInstallError(
            f"pip failed (exit {proc.returncode}; check the network connection): {last or 'no output'}")


def install_dependencies(
    target_dir: str | Path,
    variant: str = "cpu",
    python: str = sys.executable,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Install torch (``variant`` build) and the other vggt_core dependencies into ``target_dir``.

    Runs ``python -m pip install --target target_dir ...`` (several GB for CUDA variants); blocking,
    so call it from a worker thread in the UI. ``progress(line)`` receives each output line of pip.
    numpy is never requested (Blender ships it); a numpy<2 constraint covers transitive requests.
    Raises ValueError for an unknown variant and DependencyInstallError when pip fails.
    """
    Path(target_dir).mkdir(parents=True, exist_ok=True)
    _, constraints = requirements()
    with tempfile.TemporaryDirectory(prefix="vggt-deps-") as tmp:
        constraint_file = Path(tmp) / "constraints.txt"
        constraint_file.write_text("\n".join(constraints) + "\n")
        for cmd in pip_commands(target_dir, variant, python, constraint_file):
            _run(cmd, progress)
