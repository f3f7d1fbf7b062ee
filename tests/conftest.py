"""Shared fixtures: the reference folder (parity fixtures) and a session-wide tiny VGGT."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


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
    """Deterministic non-degenerate weights for a small model (in place).

    Plain default init leaves tokens/position embeddings at zero; these rules (normal 0.02, norm
    weights near 1, layer scales near 0.1, larger output convs) make every input matter. The
    tracker's update head is kept small: with large random updates the iterative tracker is chaotic
    (float32 rounding noise grows ~100x per iteration), which would make exact comparisons meaningless.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=gen)
            if name.endswith("gamma"):
                p.copy_(0.1 * (1 + 0.1 * z))
            elif name.endswith("weight") and "norm" in name.rsplit(".", 2)[-2]:
                p.copy_(1 + 0.02 * z)
            elif name.endswith("flow_head.weight"):
                p.copy_(0.005 * z)
            elif name.endswith("output_conv2.2.weight"):
                p.copy_(0.5 * z)
            elif p.ndim >= 2 and "weight" in name:
                fan_in = p[0].numel()
                p.copy_(z / fan_in**0.5)
            else:
                p.copy_(0.005 * z)


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny VGGT (VGGTConfig.tiny()) with deterministic random weights, eval mode, fp32 CPU."""
    import torch

    from vggt_core.models.vggt import VGGT, VGGTConfig

    torch.manual_seed(0)
    model = VGGT(VGGTConfig.tiny()).eval()
    randomize_(model, seed=1)
    return model


@pytest.fixture(scope="session")
def randomize():
    """The `randomize_(model, seed)` helper, for tests that build their own small models."""
    return randomize_
