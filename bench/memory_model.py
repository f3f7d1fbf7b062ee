"""GPU memory model from CPU allocation traces: VGGT's peak memory at frame counts a CPU cannot run.

    python bench/memory_model.py --res 336x518 --trace-frames 2,4 --predict 100,200 --name memory_model_agg_bf16_336x518

Runs the full-size aggregator (synthetic weights, matmul weights stored in bf16, CPU bf16 autocast:
the same ops and dtypes as under CUDA autocast) on a few frames and records the peak of live tensor
bytes from PyTorch's CPU allocator trace (`tests/memtrace.py`).

Scaled trace: with exact fused attention every activation of the aggregator is proportional to the
number of frames, except the token-slice temporaries of the blocks, which are proportional to
`layers.block.CHUNK_ROWS`. Tracing S frames with CHUNK_ROWS scaled by S/P therefore reproduces, at
S/P of the size, every buffer of a P-frame run; the peak times P/S plus the weights models the
P-frame peak. Two trace sizes giving the same prediction check the assumption. It is a model, not a
GPU measurement: a CUDA allocator adds rounding, fragmentation and kernel workspaces.

`--mode full` models `Engine.predict` (all dense heads in chunks of `--dense-chunk` frames) as the
larger of its two phases, with all weights resident and the input frames (which the engine copies to
the GPU) scaled by P/S: the aggregator phase (the scaled trace above), and the heads phase, which
holds the kept layers and the outputs (both scaled by P/S) plus the traced peak of the camera, depth
and point heads on S frames (one chunk: it does not grow with P). Writes `bench/results/<name>.json`
and `.md`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/memtrace.py
from bench_common import GB, RESULTS, command_line, hardware, md_table, write_json
from bench_model import PUBLISHED, build_engine

TARGET_FRACTION = 0.25  # issue 6: peak memory at most 0.25x the published figure


def trace(engine: Any, mode: str, frames: int, height: int, width: int, chunk_rows: int) -> dict[str, int]:
    """Traced peaks (bytes above the loaded model) for `frames` random images with the block slice size
    `chunk_rows`: "aggregator"; in full mode also "heads" (camera, depth and point heads on the kept
    layers, which exist before and are not counted), "kept" (their bytes), "outputs" and "images"."""
    import torch

    from vggt_core.network import precision_context
    from memtrace import peak_tensor_bytes
    from vggt_core.network.layers import block

    images = torch.rand(1, frames, 3, height, width, generator=torch.Generator().manual_seed(0))
    model = engine.model
    default_rows, block.CHUNK_ROWS = block.CHUNK_ROWS, chunk_rows
    try:
        with torch.inference_mode():
            with precision_context(engine.device, engine.dtype):
                kept, peak = peak_tensor_bytes(lambda: model.aggregator(images, model.needed_layers(False)))
            result = {"aggregator": peak}
            if mode == "full":
                tokens, psi = kept

                def heads() -> list[torch.Tensor]:  # as VGGT.forward runs them: fp32, no autocast
                    poses = model.camera_head(tokens, model.config.camera_iters)
                    dense = [head(tokens, images, psi, engine.dense_chunk) for head in (model.depth_head, model.point_head)]
                    return [poses[-1], *(t for pair in dense for t in pair)]

                outputs, result["heads"] = peak_tensor_bytes(heads)
                result["kept"] = sum(t.nbytes for t in tokens if t is not None)
                result["outputs"] = sum(t.nbytes for t in outputs)
                result["images"] = images.nbytes
        return result
    finally:
        block.CHUNK_ROWS = default_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", default="aggregator", choices=["aggregator", "full"])
    ap.add_argument("--res", default="336x518", help="HxW")
    ap.add_argument("--trace-frames", default="2,4", help="frame counts traced on the CPU (each gives a prediction)")
    ap.add_argument("--predict", default="100,200", help="frame counts to model")
    ap.add_argument("--dense-chunk", type=int, default=8, help="full mode: frames per dense-head chunk (the GPU default)")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    ap.add_argument("--name", default="memory_model_bf16")
    args = ap.parse_args()

    import torch

    from vggt_core.network.layers import block

    height, width = (int(v) for v in args.res.split("x"))
    trace_frames = [int(v) for v in args.trace_frames.split(",")]
    predict = [int(v) for v in args.predict.split(",")]
    engine = build_engine(None, False, "cpu", args.dtype, args.dense_chunk)
    part = engine.model.aggregator if args.mode == "aggregator" else engine.model
    weights = sum(p.numel() * p.element_size() for p in part.parameters())
    published = dict(zip(PUBLISHED["frames"], PUBLISHED["memory_gb"]))
    rows, results = [], []
    for p in predict:
        for s in trace_frames:
            rows_s = max(1, round(block.CHUNK_ROWS * s / p))
            t0 = time.perf_counter()
            traced = trace(engine, args.mode, s, height, width, rows_s)
            peak = activations = traced["aggregator"] * p / s
            if args.mode == "full":  # the larger phase; the heads' own working memory does not grow with P
                scale = p / s
                heads_phase = (traced["kept"] + traced["outputs"]) * scale + traced["heads"]
                activations = traced["images"] * scale + max(peak, heads_phase)
            total = (weights + activations) / GB
            pub = published.get(p) if args.mode == "aggregator" else None
            results.append({"frames": p, "traced_frames": s, "chunk_rows": rows_s, "traced_bytes": traced,
                            "activation_bytes": activations, "peak_gb": total, "published_gb": pub,
                            "trace_s": time.perf_counter() - t0})  # fmt: skip
            rows.append([p, s, rows_s, f"{activations / GB:.2f}", f"{total:.2f}",
                         "-" if pub is None else f"{pub:.2f}", "-" if pub is None else f"{total / pub:.3f}x"])  # fmt: skip
            print(f"  P={p} from S={s} (CHUNK_ROWS {rows_s}): {total:.2f} GB ({time.perf_counter() - t0:.0f} s)", flush=True)
    data = {
        "command": command_line(), "hardware": hardware("cpu"), "torch": torch.__version__, "mode": args.mode,
        "height": height, "width": width, "dtype": args.dtype, "dense_chunk": args.dense_chunk,
        "default_chunk_rows": block.CHUNK_ROWS, "weights_bytes": weights, "results": results,
    }  # fmt: skip
    write_json(RESULTS / f"{args.name}.json", data)
    if args.mode == "aggregator":
        what = "aggregator (keeping the layers the heads read)"
        note = f"Published: VGGT paper/README, H100, aggregator only, all 24 layers kept. Target (issue 6): at most {TARGET_FRACTION}x."
    else:
        what = f"Engine.predict (all dense heads, chunks of {args.dense_chunk} frames)"
        note = ("Full model: the larger of the aggregator phase and the heads phase (kept layers and outputs scaled, "
                "the heads' traced working memory for one chunk added as is), plus the input frames.")
    md = (
        f"# Modelled peak GPU memory: {what}, {args.dtype}, {width}x{height}\n\n"
        f"Scaled CPU allocation traces (`bench/memory_model.py`, `tests/memtrace.py`): a P-frame run is modelled by "
        f"tracing S frames with the block slice size scaled by S/P, times P/S, plus the weights as stored "
        f"({weights / GB:.2f} GB). A model, not a GPU measurement: a CUDA allocator adds rounding, fragmentation "
        f"and kernel workspaces. {note}\n\n"
        f"Command: `{data['command']}`\n\n"
        + md_table(["frames P", "traced S", "slice rows", "activations GB", "peak GB (with weights)", "published GB", "ours / published"], rows)
        + "\n"
    )
    (RESULTS / f"{args.name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
