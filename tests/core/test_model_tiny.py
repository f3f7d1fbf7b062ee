"""Behaviour of the model beyond the fixture: tiny config, other seeds, frame counts, aspect ratios."""
from __future__ import annotations

import pytest
import torch

from vggt_core.errors import InputError
from vggt_core.network.models.vggt import VGGT, VGGTConfig

H, W = 42, 70  # non-square, 3 x 5 patches


def images(S: int, seed: int = 0, h: int = H, w: int = W, batch: int | None = None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    shape = (S, 3, h, w) if batch is None else (batch, S, 3, h, w)
    return torch.rand(shape, generator=gen)


QUERIES = torch.tensor([[10.0, 12.0], [35.5, 20.25], [60.0, 30.0]])


@pytest.fixture(scope="module")
def model2(randomize):
    """Second tiny model with another seed, so nothing depends on one lucky initialisation."""
    model = VGGT(VGGTConfig.tiny()).eval()
    randomize(model, seed=7)
    return model


def run(model, x, q=None):
    with torch.inference_mode():
        return model(x, q)


# The iterative tracker amplifies float rounding differences (different batch/frame layouts use
# different kernels), so its outputs get a looser bound than the single-pass heads.
TOL = {"track": 1e-3, "vis": 1e-3, "conf": 1e-3}


def close(a, b, tol=2e-5):
    scale = max(1.0, float(b.abs().max()))
    return float((a - b).abs().max()) <= tol * scale


@pytest.mark.parametrize("S", [1, 2, 4])
def test_output_shapes_and_ranges(tiny_model, S):
    out = run(tiny_model, images(S), QUERIES)
    assert list(out) == ["pose_enc", "pose_enc_list", "depth", "depth_conf", "world_points", "world_points_conf",
                         "track", "vis", "conf", "images"]  # fmt: skip
    assert out["pose_enc"].shape == (1, S, 9) and len(out["pose_enc_list"]) == 4
    assert out["depth"].shape == (1, S, H, W, 1) and out["depth_conf"].shape == (1, S, H, W)
    assert out["world_points"].shape == (1, S, H, W, 3) and out["world_points_conf"].shape == (1, S, H, W)
    assert out["track"].shape == (1, S, 3, 2) and out["vis"].shape == (1, S, 3) and out["conf"].shape == (1, S, 3)
    assert torch.equal(out["images"][0], images(S))
    assert (out["depth"] > 0).all() and (out["depth_conf"] >= 1).all() and (out["world_points_conf"] >= 1).all()
    assert (out["pose_enc"][..., 7:] >= 0).all()  # relu'd fields of view
    assert ((out["vis"] > 0) & (out["vis"] < 1)).all()
    torch.testing.assert_close(out["track"][0, 0], QUERIES)  # frame 0 is pinned to the queries
    for value in out.values():
        for t in value if isinstance(value, list) else [value]:
            assert t.dtype == torch.float32 and torch.isfinite(t).all()
    # Inputs actually matter: another image gives other predictions.
    other = run(tiny_model, images(S, seed=5))
    assert not close(other["depth"], out["depth"], 1e-3)


def test_no_queries_no_tracks_and_training_mode_drops_images(tiny_model):
    out = run(tiny_model, images(2))
    assert "track" not in out and "images" in out
    tiny_model.train()
    try:
        with torch.no_grad():
            out = tiny_model(images(2))
    finally:
        tiny_model.eval()
    assert "images" not in out


@pytest.mark.parametrize("name", ["tiny_model", "model2"])
def test_batch_equals_separate_calls(name, request):
    model = request.getfixturevalue(name)
    x = images(3, batch=2)
    batched = run(model, x, QUERIES)
    for b in range(2):
        single = run(model, x[b], QUERIES)
        for key in ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf", "track", "vis", "conf"):
            assert close(batched[key][b], single[key][0], TOL.get(key, 2e-5)), key


def test_chunked_dpt_equals_unchunked(model2):
    x = images(5, seed=3)
    ref = run(model2, x)
    model2.frames_chunk_size = 2
    try:
        chunked = run(model2, x)
    finally:
        model2.frames_chunk_size = 8
    for key in ("depth", "depth_conf", "world_points", "world_points_conf"):
        assert close(chunked[key], ref[key], 1e-5), key  # float32 conv kernels differ by batch size


@pytest.mark.parametrize("name", ["tiny_model", "model2"])
def test_frame_order_equivariance(name, request):
    """Frames 1..S-1 are exchangeable (frame 0 is the reference): permuting them permutes outputs."""
    model = request.getfixturevalue(name)
    x = images(4, seed=11)
    perm = [0, 3, 1, 2]
    a = run(model, x, QUERIES)
    b = run(model, x[perm], QUERIES)
    for key in ("pose_enc", "depth", "depth_conf", "world_points", "world_points_conf", "track", "vis", "conf"):
        assert close(b[key][0], a[key][0][perm], TOL.get(key, 2e-5)), key
    # Swapping in a new frame 0 is not a permutation symmetry: the outputs must change.
    c = run(model, x[[1, 0, 2, 3]])
    assert not close(c["pose_enc"][0], a["pose_enc"][0][[1, 0, 2, 3]], 1e-3)


def test_heads_keep_only_needed_layers(tiny_model):
    cfg = tiny_model.config
    assert tiny_model.needed_layers(with_track=False) == sorted(set(cfg.dpt_layers) | {cfg.depth - 1})
    seen = {}

    def grab(module, args, output) -> None:
        seen["tokens"] = output[0]

    hook = tiny_model.aggregator.register_forward_hook(grab)
    try:
        run(tiny_model, images(2))
    finally:
        hook.remove()
    kept = [i for i, t in enumerate(seen["tokens"]) if t is not None]
    assert kept == [0, 1, 3, 4] and seen["tokens"][2] is None


def test_aggregator_keep_layers_matches_all_layers(tiny_model):
    x = images(3)[None]
    calls = []
    with torch.inference_mode():
        full, psi = tiny_model.aggregator(x)
        lean, _ = tiny_model.aggregator(x, keep_layers=[1, -1], callback=lambda d, t: calls.append((d, t)))
    assert psi == 5 and all(t is not None for t in full)
    assert [i for i, t in enumerate(lean) if t is not None] == [1, 4]
    assert torch.equal(lean[1], full[1]) and torch.equal(lean[4], full[4])
    total = tiny_model.config.dino_depth + 2 * tiny_model.config.depth
    assert calls == [(i, total) for i in range(1, total + 1)]


def test_dino_position_embedding_resampling(tiny_model):
    """The native square grid uses the stored embedding; other grids resample it smoothly."""
    dino = tiny_model.aggregator.patch_embed
    native = dino.position_embedding(4, 4, torch.float32)
    assert torch.equal(native, dino.pos_embed)
    resized = dino.position_embedding(3, 5, torch.float32)
    assert resized.shape == (1, 16, 32)
    torch.testing.assert_close(resized[:, 0], dino.pos_embed[:, 0])
    same_size_other_shape = dino.position_embedding(2, 8, torch.float32)  # 16 patches but not square
    assert not torch.equal(same_size_other_shape, dino.pos_embed)


@pytest.mark.parametrize(
    "x,match",
    [
        (torch.rand(2, 3, 40, 70), "multiple of 14"),
        (torch.rand(0, 3, 42, 70), "no frames"),
        (torch.rand(2, 3, 42, 70) * 2, r"\[0, 1\]"),
        ((torch.rand(2, 3, 42, 70) * 255).to(torch.uint8), "floating point"),
        (torch.rand(2, 4, 42, 70), "shape"),
    ],
)
def test_invalid_inputs_raise_input_error(tiny_model, x, match):
    with pytest.raises(InputError, match=match):
        run(tiny_model, x)


def test_stage_callbacks(tiny_model):
    seen: dict[str, list[tuple[int, int]]] = {}
    with torch.inference_mode():
        tiny_model(images(3), QUERIES, callback=lambda s, d, t: seen.setdefault(s, []).append((d, t)))
    assert list(seen) == ["aggregator", "camera", "depth", "points", "tracks"]
    cfg = tiny_model.config
    assert len(seen["aggregator"]) == cfg.dino_depth + 2 * cfg.depth
    assert seen["camera"] == [(i, 4) for i in range(1, 5)]
    assert seen["tracks"][-1] == (1, 1)
