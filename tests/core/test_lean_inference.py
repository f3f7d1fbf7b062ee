"""Lean inference: token-sliced blocks, bf16 matmul weights and kept layers, memory bounds.

These change where and in which dtype values are stored, never the arithmetic: each test compares
against the plain formulation and, for memory, measures the allocator trace (tests/memtrace.py).
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vggt_core.network.engine import Engine, cast_matmul_weights_
from vggt_core.network.layers import Block, RotaryPositionEmbedding2D
from vggt_core.network.layers import block as block_module

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/memtrace.py
from memtrace import peak_tensor_bytes  # noqa: E402

DIM, HEADS = 64, 4


def plain_block(block: Block, x: torch.Tensor, pos: torch.Tensor, max_pos: int) -> torch.Tensor:
    """The textbook pre-norm block, whole sequence at once."""
    y = x + block.ls1(block.attn(block.norm1(x), pos, max_pos))
    return y + block.ls2(block.mlp(block.norm2(y)))


@pytest.fixture()
def block() -> Block:
    torch.manual_seed(0)
    b = Block(DIM, HEADS, qk_norm=True, rope=RotaryPositionEmbedding2D()).eval()
    for p in b.parameters():  # LayerScale starts at 0.01; make both residual branches matter
        p.data.normal_(0, 0.3)
    return b


def inputs(batch: int, tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, tokens, DIM, generator=gen), torch.randint(0, 40, (batch, tokens, 2), generator=gen)


@pytest.mark.parametrize("autocast", [False, True])
def test_sliced_block_matches_plain(block, monkeypatch, autocast):
    """Many slices (17 rows, so slices straddle batch rows unevenly), fp32 and CPU bf16 autocast."""
    monkeypatch.setattr(block_module, "CHUNK_ROWS", 17)
    x, pos = inputs(3, 50)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        lean = block(x, pos, 40)
        plain = plain_block(block, x, pos, 40)
    assert lean.dtype == plain.dtype == torch.float32
    tol = 2e-2 if autocast else 1e-5  # bf16 GEMMs on different row counts may round differently
    torch.testing.assert_close(lean, plain, rtol=tol, atol=tol)
    assert float((lean - x).abs().mean()) > 0.1  # the block really did something


def test_sliced_block_leaves_its_input_alone(block, monkeypatch):
    monkeypatch.setattr(block_module, "CHUNK_ROWS", 16)
    x, pos = inputs(2, 30)
    before = x.clone()
    with torch.inference_mode():
        block(x, pos, 40)
    assert torch.equal(x, before)


def test_sliced_block_peak_memory(block, monkeypatch):
    """Live bytes stay ~5.5x the residual (output + q, k, v, attention output); unsliced is 10x."""
    monkeypatch.setattr(block_module, "CHUNK_ROWS", 512)
    x, pos = inputs(1, 4096)
    with torch.inference_mode():
        _, lean = peak_tensor_bytes(lambda: block(x, pos, 40))
        _, plain = peak_tensor_bytes(lambda: plain_block(block, x, pos, 40))
    print(f"\n  peak live bytes / residual size: sliced {lean / x.nbytes:.2f}, plain {plain / x.nbytes:.2f}")
    assert lean <= 6.0 * x.nbytes
    assert plain >= 9.0 * x.nbytes  # the measurement does see the MLP's 4x-wide activations


def test_bf16_matmul_weights_are_bit_identical_under_autocast(tiny_model):
    """Autocast casts fp32 Linear/Conv weights to bf16 per call; storing them in bf16 changes nothing."""
    model = copy.deepcopy(tiny_model)
    images = torch.rand(1, 3, 3, 56, 70, generator=torch.Generator().manual_seed(2))
    keep = model.needed_layers(False)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        before, _ = model.aggregator(images, keep)
        cast_matmul_weights_(model.aggregator, torch.bfloat16)
        after, _ = model.aggregator(images, keep)
    for a, b in zip(before, after):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == torch.bfloat16  # kept layers are stored in the autocast dtype
            assert torch.equal(a, b)
    linear = model.aggregator.frame_blocks[0].attn.qkv
    assert linear.weight.dtype == linear.bias.dtype == torch.bfloat16
    assert model.aggregator.frame_blocks[0].norm1.weight.dtype == torch.float32
    assert model.aggregator.frame_blocks[0].ls1.gamma.dtype == torch.float32


def test_kept_layers_stay_fp32_without_autocast(tiny_model):
    images = torch.rand(1, 2, 3, 56, 56, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        tokens, _ = tiny_model.aggregator(images, tiny_model.needed_layers(False))
    assert {t.dtype for t in tokens if t is not None} == {torch.float32}


def test_bf16_engine_casts_only_the_aggregator(tiny_model):
    images = np.random.default_rng(0).random((3, 3, 56, 70), dtype=np.float32)
    engine = Engine.from_model(copy.deepcopy(tiny_model), device="cpu", dtype="bf16")
    model = engine.model
    assert model.aggregator.patch_embed.patch_embed.proj.weight.dtype == torch.bfloat16
    head_dtypes = {p.dtype for name in ("camera_head", "depth_head", "point_head") for p in getattr(model, name).parameters()}
    assert head_dtypes == {torch.float32}
    out = engine.predict(images)
    fp32 = Engine.from_model(copy.deepcopy(tiny_model), device="cpu").predict(images)
    assert out["depth"].dtype == np.float32
    np.testing.assert_allclose(out["depth"], fp32["depth"], rtol=0.1)
