"""Engine: outputs, progress, cancellation, lazy loading and error mapping (tiny model, CPU)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vggt_core.network import weights
from vggt_core.network.engine import Engine, estimate_max_frames, pick_device, pick_dtype
from vggt_core.errors import Cancelled, InputError, OutOfMemoryError
from vggt_core.geometry import pose_encoding_to_extri_intri

REPO = Path(__file__).resolve().parents[2]

S, H, W = 3, 42, 56
IMAGES = np.random.default_rng(0).random((S, 3, H, W), dtype=np.float32)
QUERIES = np.array([[5.0, 7.0], [30.0, 20.0]], dtype=np.float32)


@pytest.fixture
def engine(tiny_model):
    return Engine.from_model(tiny_model, device="cpu")


def test_predict_outputs_match_model(engine, tiny_model):
    out = engine.predict(IMAGES, QUERIES)
    shapes = {
        "pose_enc": (S, 9), "extrinsic": (S, 3, 4), "intrinsic": (S, 3, 3), "depth": (S, H, W),
        "depth_conf": (S, H, W), "world_points": (S, H, W, 3), "world_points_conf": (S, H, W),
        "track": (S, 2, 2), "vis": (S, 2), "conf": (S, 2),
    }  # fmt: skip
    assert {k: v.shape for k, v in out.items()} == shapes
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in out.values())
    # The head puts pixel centres at integers, the engine's callers at +0.5 (TRACK_HEAD_SHIFT): the model is
    # asked about the same pixels, and its tracks come back in the callers' convention.
    head_queries = torch.from_numpy(QUERIES) - 0.5
    with torch.inference_mode():
        ref = tiny_model(torch.from_numpy(IMAGES), head_queries, frames_chunk_size=engine.dense_chunk)
    np.testing.assert_array_equal(out["depth"], ref["depth"][0, ..., 0].numpy())
    np.testing.assert_array_equal(out["world_points"], ref["world_points"][0].numpy())
    np.testing.assert_array_equal(out["track"], ref["track"][0].numpy() + np.float32(0.5))
    np.testing.assert_allclose(out["track"][0], QUERIES, atol=1e-5)  # the query frame pins its own queries
    extr, intr = pose_encoding_to_extri_intri(ref["pose_enc"][0], (H, W))
    np.testing.assert_allclose(out["extrinsic"], extr.numpy(), atol=1e-6)
    np.testing.assert_allclose(out["intrinsic"], intr.numpy(), rtol=1e-6)
    assert out["intrinsic"][0, 0, 2] == W / 2
    assert "track" not in engine.predict(torch.from_numpy(IMAGES))


def test_dense_chunking_defaults_to_one_frame_on_cpu(engine):
    assert engine.dense_chunk == 1  # lowest peak RAM on CPU (bench/results/cpu_fp32_dense_chunk1.md)
    one = engine.predict(IMAGES)
    engine._dense_chunk = 8  # the original's chunking: same results up to float32 rounding
    try:
        eight = engine.predict(IMAGES)
    finally:
        engine._dense_chunk = None
    for key in ("depth", "depth_conf", "world_points", "world_points_conf"):
        scale = max(1.0, float(np.abs(eight[key]).max()))
        assert np.abs(one[key] - eight[key]).max() <= 1e-5 * scale, key
    assert Engine("x.safetensors", device="cpu", dense_chunk=4).dense_chunk == 4


def test_progress_is_monotone_and_complete(engine):
    events: list[tuple[str, float]] = []
    engine.predict(IMAGES, QUERIES, progress=lambda stage, f: events.append((stage, f)))
    stages = list(dict.fromkeys(s for s, _ in events))
    assert stages == ["aggregator", "camera", "depth", "points", "tracks"]
    for stage in stages:
        fractions = [f for s, f in events if s == stage]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in fractions)
    cfg = engine.model.config
    assert sum(s == "aggregator" for s, _ in events) == cfg.dino_depth + 2 * cfg.depth


@pytest.mark.parametrize("after", [0, 1, 5, 13])
def test_cancel_is_prompt(engine, after):
    polls = []
    progress_after_cancel = []

    def cancel() -> bool:
        polls.append(1)
        return len(polls) > after

    def progress(stage, fraction):
        if len(polls) > after:
            progress_after_cancel.append(stage)

    with pytest.raises(Cancelled):
        engine.predict(IMAGES, QUERIES, progress=progress, cancel=cancel)
    assert len(polls) == after + 1  # nothing ran past the first block after cancel() turned True
    assert progress_after_cancel == []
    engine.predict(IMAGES)  # the engine is still usable afterwards


def test_lazy_load_reuse_and_unload(tiny_model, tmp_path, monkeypatch):
    path = weights.save_checkpoint(tiny_model, tmp_path / "tiny.safetensors")
    loads = []
    real = weights.load_model
    monkeypatch.setattr(weights, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    eng = Engine(str(path), device="cpu")
    assert eng.model_id == str(path) and not eng.loaded and loads == []
    first = eng.predict(IMAGES)
    eng.predict(IMAGES)
    assert len(loads) == 1 and eng.loaded
    eng.unload()
    assert not eng.loaded
    np.testing.assert_array_equal(eng.predict(IMAGES)["depth"], first["depth"])
    assert len(loads) == 2


def test_engine_source_defaults(monkeypatch):
    monkeypatch.setenv("VGGT_WEIGHTS", "/x/y.safetensors")
    assert Engine().model_id == "/x/y.safetensors"  # nothing is loaded by the constructor


def test_input_errors(engine):
    with pytest.raises(InputError, match="multiple of 14"):
        engine.predict(np.zeros((2, 3, 40, 56), np.float32))
    with pytest.raises(InputError, match="no frames"):
        engine.predict(np.zeros((0, 3, 42, 56), np.float32))
    with pytest.raises(InputError, match=r"\[S,3,H,W\]"):
        engine.predict(np.zeros((1, 2, 3, 42, 56), np.float32))


def test_out_of_memory_is_mapped(engine, monkeypatch):
    def boom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(engine.model.aggregator, "forward", boom)
    with pytest.raises(OutOfMemoryError, match="fewer frames or a lower resolution") as info:
        engine.predict(IMAGES)
    assert "\n" not in str(info.value) and f"{S} frames at {W}x{H}" in str(info.value)


def test_device_and_dtype_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cuda", "mps", "cpu")
    cpu = torch.device("cpu")
    assert pick_dtype("auto", cpu) == torch.float32
    assert pick_dtype("bf16", cpu) == torch.bfloat16 and pick_dtype("fp16", cpu) == torch.float16
    with pytest.raises(InputError):
        pick_dtype("int8", cpu)


def test_estimate_max_frames_scales_inversely():
    a = estimate_max_frames(8 << 30, 518, 518)
    assert a > 0 and estimate_max_frames(16 << 30, 518, 518) >= 2 * a - 1
    assert estimate_max_frames(8 << 30, 294, 518) > a


def test_estimate_max_frames_is_conservative_but_close_to_the_memory_model():
    """bench/results/memory_model_full_bf16_294x518.json: activations traced and scaled for 100 and 500
    frames (dense heads in chunks of 8). The estimate must fit in them, and not waste more than 1.7x."""
    import json

    model = json.loads((REPO / "bench" / "results" / "memory_model_full_bf16_294x518.json").read_text())
    for row in model["results"]:
        fits = estimate_max_frames(int(row["activation_bytes"]), 294, 518, dense_chunk=8)
        assert row["frames"] / 1.7 <= fits <= row["frames"], (row, fits)


def test_light_imports_do_not_load_torch():
    """The Blender extension imports these at enable time; torch must stay unloaded until inference."""
    import subprocess
    import sys

    code = (
        "import sys, vggt_core, vggt_core.reconstruction, vggt_core.geometry, vggt_core.network.weights, vggt_core.network.engine;"
        "assert 'torch' not in sys.modules, 'torch imported';"
        "assert vggt_core.__version__ == '0.1.0';"
        "vggt_core.VGGT; assert 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
