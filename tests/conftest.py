"""Shared fixtures: the reference folder (parity fixtures) and a session-wide tiny VGGT."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]

# bpy 5.2 segfaults when triton (which PyPI's CUDA torch brings) is first imported after a compositor
# render. The product never imports it (tests/core/test_weights.py checks); the profiler that
# tests/memtrace.py uses does. Importing it before any test renders keeps one process for the suite.
try:
    import triton  # noqa: F401
except ImportError:
    pass


def _reference_path() -> Path:
    return Path(os.environ.get("VGGT_REFERENCE_DIR") or REPO.parent / "shared" / "reference")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Folder with SPEC.md, vggt1b_state_dict.json, make_weights.py and fixture_small*.npz."""
    path = _reference_path()
    if not (path / "fixture_small.npz").is_file():
        pytest.skip(f"VGGT reference fixtures not found at {path} (set VGGT_REFERENCE_DIR)")
    return path


@pytest.fixture(scope="session")
def make_weights(reference_dir: Path) -> ModuleType:
    """The reference `make_weights` module (synthetic deterministic weights), imported in place."""
    spec = importlib.util.spec_from_file_location("vggt_reference_make_weights", reference_dir / "make_weights.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def randomize_(model, seed: int) -> None:
    """Synthetic deterministic weights for a small model, in place (see vggt_core.network.models.synthetic)."""
    from vggt_core.network.models.synthetic import synthetic_init_

    synthetic_init_(model, seed)


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny VGGT (VGGTConfig.tiny()) with deterministic random weights, eval mode, fp32 CPU."""
    import torch

    from vggt_core.network.models.vggt import VGGT, VGGTConfig

    torch.manual_seed(0)
    model = VGGT(VGGTConfig.tiny()).eval()
    randomize_(model, seed=1)
    return model


@pytest.fixture(scope="session")
def randomize():
    """The `randomize_(model, seed)` helper, for tests that build their own small models."""
    return randomize_
