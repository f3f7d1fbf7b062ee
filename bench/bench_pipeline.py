"""End-to-end pipeline timing: frames on disk -> ``Reconstruction`` (``vggt_core.run.pipeline``), per stage.

    python bench/bench_pipeline.py --tiny                                   # tiny synthetic model, seconds
    python bench/bench_pipeline.py --weights model.safetensors --device cuda --repeat 3
    python bench/bench_pipeline.py --weights model.safetensors --images my_frames/ --max-frames 50

Stages: ``load`` (weights into an Engine on the device), ``list`` (``frames.list_frames``), the pipeline's
own ``frames`` (decoding), ``preprocess``, ``model`` (``Engine.predict``; split into aggregator / camera /
depth / points / tracks from its progress callback) and ``assemble``, then ``select_points`` (default
filter), ``cache_save`` and ``cache_load`` of the result. With ``--repeat N`` the pipeline runs N times
(no result cache) and the tables give the median of each stage; the first run is listed on its own.
On CUDA the model's sub-stage split is approximate (progress fires when work is queued, not done);
the ``model`` total is exact because the results are copied to the CPU.

Writes ``bench/results/pipeline_<name>.json`` and ``.md``. Not a test: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from bench_common import GB, REPO, RESULTS, command_line, hardware, md_table, peak_rss_gb, write_json  # noqa: E402

MODEL_STAGES = ("aggregator", "camera", "depth", "points", "tracks")


def make_engine(args: argparse.Namespace) -> tuple[Any, float, str]:
    """(engine with its model loaded, seconds to load, weights description)."""
    from vggt_core import Engine

    t0 = time.perf_counter()
    if args.tiny:
        from vggt_core.network import synthetic_init_
        from vggt_core import VGGT, VGGTConfig

        engine = Engine.from_model(synthetic_init_(VGGT(VGGTConfig.tiny())), device=args.device, dtype=args.dtype)
        what = "tiny synthetic model (meaningless geometry; times the pipeline around the model)"
    else:
        engine = Engine(args.weights, device=args.device, dtype=args.dtype)
        engine.model  # noqa: B018 - loads the weights now, so loading is timed on its own
        what = engine.model_id
    return engine, time.perf_counter() - t0, what


def run_once(inputs: Path, settings: Any, engine: Any) -> dict[str, float]:
    """One pipeline run -> seconds per stage (pipeline stages, model sub-stages, post-processing)."""
    from vggt_core.run import cache
    from vggt_core import select_points
    from vggt_core import list_frames
    from vggt_core import reconstruct_frames

    last: dict[str, float] = {}

    def progress(stage: str, fraction: float) -> None:
        last[stage] = time.perf_counter()

    t = {}
    t0 = time.perf_counter()
    infos = list_frames(inputs, settings.selection)
    t["list"] = time.perf_counter() - t0
    recon = reconstruct_frames(infos, settings, engine, progress=progress)
    t.update({k: float(v) for k, v in recon.timings.items()})
    prev = last.get("preprocess")
    for stage in MODEL_STAGES:  # the engine's stages come one after the other
        if stage in last and prev is not None:
            t[f"model.{stage}"] = last[stage] - prev
            prev = last[stage]
    t0 = time.perf_counter()
    points = select_points(recon)
    t["select_points"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = cache.save(recon, Path(tmp) / "recon.npz")
        t["cache_save"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cache.load(path)
        t["cache_load"] = time.perf_counter() - t0
    t["total"] = sum(v for k, v in t.items() if "." not in k)
    t["_frames"] = recon.num_frames
    t["_points"] = len(points.xyz)
    t["_model_hw"] = list(recon.depth.shape[1:])
    return t


def write_markdown(path: Path, data: dict[str, Any]) -> Path:
    meta, runs = data["meta"], data["runs"]
    hw = meta["hardware"]
    where = hw.get("gpu") or f"{hw['cpu']} ({hw['cpu_cores']} cores, {hw['torch_threads']} torch threads)"
    stages = [k for k in runs[0] if not k.startswith("_")]
    rest = runs[1:] or runs
    rows = [[k, f"{runs[0][k]:.3f}", f"{statistics.median(r.get(k, 0.0) for r in rest):.3f}"] for k in stages]
    lines = [
        f"# Pipeline timing: {meta['device']} {meta['dtype']} on {where}",
        "",
        f"Input: `{meta['images']}`, {runs[0]['_frames']} frames at {runs[0]['_model_hw'][1]}x{runs[0]['_model_hw'][0]} "
        f"(model pixels), {runs[0]['_points']:,} points after `select_points`. Weights: {meta['weights']} "
        f"(load {meta['load_s']:.2f} s). Peak memory: {meta['peak_memory_gb']:.2f} GB ({meta['memory']}).",
        "",
        f"`{meta['command']}`",
        "",
        md_table(["stage", "first run s", f"median s ({len(rest)} run{'s' if len(rest) > 1 else ''}{' after the first' if len(runs) > 1 else ''})"], rows),
        "",
        "`model.*` rows split `model` by the engine's progress callback (approximate on GPU).",
        "",
    ]  # fmt: skip
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", default=str(REPO / "examples" / "orbit" / "images"), help="image folder or video")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", help="checkpoint file (or HF repo id, if already downloaded)")
    src.add_argument("--tiny", action="store_true", help="tiny synthetic model")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    ap.add_argument("--max-frames", type=int, help="evenly spaced subset of the input")
    ap.add_argument("--mode", default="crop", choices=["crop", "pad"])
    ap.add_argument("--resolution", type=int, default=518)
    ap.add_argument("--queries", type=int, default=0, help="also track N points on a grid of frame 0")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--name", help="result file stem: bench/results/pipeline_<name> (default <device>_<dtype>[_tiny])")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from vggt_core import FrameSelection
    from vggt_core import ReconstructSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    engine, load_s, what = make_engine(args)
    device = engine.device
    dtype = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[engine.dtype]
    queries = None
    if args.queries:  # a regular grid inside the model canvas (its height depends on the input's aspect)
        n = int(np.ceil(np.sqrt(args.queries)))
        g = (np.arange(n) + 0.5) / n
        queries = tuple((float(x * args.resolution), float(y * args.resolution * 0.5)) for y in g for x in g)[: args.queries]
    settings = ReconstructSettings(
        selection=FrameSelection(max_frames=args.max_frames), mode=args.mode, resolution=args.resolution, query_points=queries
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    runs = []
    for i in range(args.repeat):
        runs.append(run_once(Path(args.images), settings, engine))
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[-1].items() if not k.startswith("_")), flush=True)
    cuda = device.type == "cuda"
    name = args.name or f"{device.type}_{dtype}" + ("_tiny" if args.tiny else "")
    data = {
        "meta": {
            "command": command_line(),
            "images": args.images,
            "device": str(device),
            "dtype": dtype,
            "weights": what,
            "load_s": load_s,
            "settings": {"max_frames": args.max_frames, "mode": args.mode, "resolution": args.resolution, "queries": args.queries},
            "peak_memory_gb": torch.cuda.max_memory_allocated(device) / GB if cuda else peak_rss_gb(),
            "memory": "torch.cuda.max_memory_allocated" if cuda else "peak RSS of the process (VmHWM)",
            "hardware": hardware(str(device)),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
        "runs": runs,
    }
    out = write_json(RESULTS / f"pipeline_{name}.json", data)
    write_markdown(out.with_suffix(".md"), data)
    print(f"wrote {out} and .md", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
