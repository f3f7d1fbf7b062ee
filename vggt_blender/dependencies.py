"""The extension's private dependency folder (torch & co.) and the background installer that fills it.

torch is not bundled in the extension zip (hundreds of MB to GBs, per-platform index), so the
preferences offer "Install Dependencies", which pip-installs into
``extension_path_user(<package>, "deps")``; ``register()`` appends that folder to ``sys.path``
(appended, so Blender's own numpy keeps precedence).
"""
from __future__ import annotations

import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import bpy

from .addon import ADDON_ID

_added_paths: list[str] = []


def deps_dir() -> str:
    """Absolute path of the dependency folder.

    Installed as an extension: ``<user>/extensions/.user/<repo>/<id>/deps`` (created). Imported
    from the source tree (not an extension) there is no extension user folder; a sibling of the
    extensions folder is named instead (created only when something is installed there).
    """
    try:
        return bpy.utils.extension_path_user(ADDON_ID, path="deps", create=True)
    except ValueError:  # "package does not name an extension"
        return os.path.join(bpy.utils.user_resource("EXTENSIONS"), ".user", "vggt_dev", "deps")


def add_to_sys_path() -> None:
    """Make packages installed in ``deps_dir()`` importable (idempotent)."""
    path = deps_dir()
    if path not in sys.path:
        sys.path.append(path)
        _added_paths.append(path)


def remove_from_sys_path() -> None:
    """Undo ``add_to_sys_path`` (modules already imported stay imported)."""
    while _added_paths:
        path = _added_paths.pop()
        if path in sys.path:
            sys.path.remove(path)


def installer() -> ModuleType:
    """The installer module: ``deps.py`` inside the built extension, else ``install/deps.py`` in the repo."""
    try:
        from . import deps  # type: ignore[attr-defined]  # copied into the zip by install/build_extension.py

        return deps
    except ImportError:
        path = Path(__file__).resolve().parents[1] / "install" / "deps.py"
        spec = importlib.util.spec_from_file_location("vggt_install_deps", path)
        if spec is None or not path.is_file():
            raise ImportError(f"dependency installer not found (looked for {path})") from None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


@dataclass
class InstallState:
    """Progress of the running (or last) install, written by the install thread, read by the UI."""

    running: bool = False
    stage: str = ""
    fraction: float = 0.0
    message: str = ""
    failed: bool = False


_state = InstallState()
_thread: threading.Thread | None = None


def state() -> InstallState:
    return _state


def _progress_from_line(line: str) -> None:
    """Turn pip's output into a rough stage + fraction (pip gives no total, so each new package
    nudges the bar a little closer to 1)."""
    text = line.strip()
    if text.startswith(("Collecting", "Downloading", "Installing", "Successfully")):
        _state.stage = text[:80]
        _state.fraction = min(0.95, _state.fraction + (1.0 - _state.fraction) * 0.08)


def _install(target: str, variant: str, python: str) -> None:
    try:
        installer().install_dependencies(target, variant=variant, python=python, progress=_progress_from_line)
        _state.message = f"Dependencies installed in {target}; restart Blender if PyTorch was already imported"
        _state.failed = False
        importlib.invalidate_caches()
    except Exception as err:  # shown in the preferences as one line
        _state.message = (str(err).strip().splitlines() or [type(err).__name__])[0]
        _state.failed = True
    finally:
        _state.fraction = 1.0
        _state.running = False


def torch_variant(build: str) -> str:
    """The installer's variant for the UI choice ``build`` ("cpu" or "gpu") on this platform: CUDA
    on Linux and Windows, PyPI's MPS build on macOS (``deps.variant_for``)."""
    return installer().variant_for(build, sys.platform)


def start_install(build: str, wait: bool = False) -> None:
    """Install the dependencies (``build``: "cpu" or "gpu") in a background thread.

    ``wait=True`` blocks until pip finishes (background mode). sys.executable is Blender's own
    Python (Blender >= 2.92), the interpreter the packages must match.
    """
    global _thread
    if _state.running:
        raise RuntimeError("The dependency installer is already running")
    variant = torch_variant(build)  # ValueError (unknown build or platform) before any state changes
    _state.running, _state.stage, _state.fraction, _state.message, _state.failed = True, "Starting pip", 0.0, "", False
    _thread = threading.Thread(target=_install, args=(deps_dir(), variant, sys.executable),
                               name="vggt-install-deps", daemon=True)
    _thread.start()
    if wait:
        _thread.join()
