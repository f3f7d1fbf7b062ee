"""``vggt_blender.convert`` (pure numpy) without importing the extension: vggt_blender/__init__.py
imports bpy, which the core tests do without."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_PKG = Path(__file__).resolve().parents[1] / "vggt_blender" / "convert"
_NAME = "vggt_blender_convert"


def load_convert(submodule: str | None = None) -> ModuleType:
    """The convert package (loaded by path, once), or its ``submodule`` (e.g. "setup")."""
    if _NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(_NAME, _PKG / "__init__.py",
                                                      submodule_search_locations=[str(_PKG)])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = mod
        spec.loader.exec_module(mod)
    return importlib.import_module(f"{_NAME}.{submodule}" if submodule else _NAME)
