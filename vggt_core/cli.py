"""``vggt-reconstruct INPUT... --out DIR``: images or a video -> cameras, depth, points, PLY and COLMAP files.

Writes into DIR: ``reconstruction.npz`` (the cache format, loadable with ``vggt_core.cache.load`` and by the
Blender add-on), ``points.ply``, ``sparse/0/{cameras,images,points3D}.{bin,txt}`` and ``summary.json``.
Exit codes: 0 success, 2 for any user-fixable problem (one line "error: ..." on stderr), 130 on Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from .errors import VGGTError, WeightsError

EXPORTS = ("ply", "colmap")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vggt-reconstruct",
        description="Reconstruct cameras, depth and a point cloud from photos or a video with VGGT.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="an image folder, a video file, or image files")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    sel = p.add_argument_group("frame selection")
    sel.add_argument("--stride", type=int, default=1, help="use every N-th frame")
    sel.add_argument("--start", type=int, default=0, help="first frame index (0-based)")
    sel.add_argument("--end", type=int, default=None, help="stop before this frame index")
    sel.add_argument("--max-frames", type=int, default=None, help="at most N frames, evenly spaced")
    sel.add_argument("--fps", type=float, default=None, help="videos: sample about N frames per second")
    p.add_argument("--mode", choices=("crop", "pad"), default="crop", help="fit frames to 518 px (default crop)")
    p.add_argument("--resolution", type=int, default=518, help="model resolution, multiple of 14 (default 518)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--weights", type=Path, help="local checkpoint (.safetensors, .pt, .pth)")
    src.add_argument("--model", help="Hugging Face repo id (default: $VGGT_WEIGHTS or facebook/VGGT-1B)")
    p.add_argument("--token", default=None, help="Hugging Face token for gated weights")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default auto)")
    p.add_argument(
        "--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
        help="compute precision (auto: bf16 on recent CUDA GPUs, fp32 on CPU)",
    )
    p.add_argument("--export", default="ply,colmap", help="comma-separated: ply, colmap (default both; '' none)")
    p.add_argument("--source", choices=("depth", "points"), default="depth", help="points from depth or point head")
    p.add_argument("--conf-percentile", type=float, default=50.0, help="drop the least confident N%% (default 50)")
    p.add_argument("--max-points", type=int, default=1_000_000, help="cap on exported points (default 1e6)")
    p.add_argument("--cache-dir", type=Path, default=None, help="reuse results across runs (default OUT/cache)")
    p.add_argument("--no-cache", action="store_true", help="always run the model")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except VGGTError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


def run(args: argparse.Namespace) -> dict:
    """Do the work of ``main``; returns the summary written to ``summary.json``."""
    from . import cache
    from .frames import FrameSelection, list_frames
    from .pipeline import ReconstructSettings, cache_path, reconstruct_frames

    exports = [e.strip() for e in args.export.split(",") if e.strip()]
    unknown = sorted(set(exports) - set(EXPORTS))
    if unknown:
        raise VGGTError(f"unknown export {unknown[0]!r} (choose from {', '.join(EXPORTS)})")
    if args.weights is not None and not args.weights.is_file():
        raise WeightsError(f"weights file not found: {args.weights}")
    settings = ReconstructSettings(
        selection=FrameSelection(args.stride, args.start, args.end, args.max_frames, args.fps),
        mode=args.mode,
        resolution=args.resolution,
    )
    inputs = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    infos = list_frames(inputs, settings.selection)  # input problems surface before any weights load
    args.out.mkdir(parents=True, exist_ok=True)
    cache_dir = None if args.no_cache else (args.cache_dir or args.out / "cache")

    from .engine import Engine
    from .weights import resolve_source

    source = resolve_source(str(args.weights.resolve()) if args.weights is not None else args.model)
    engine = Engine(source=source, device=args.device, dtype=args.dtype, token=args.token)
    with _ProgressBars() as bars:
        recon = reconstruct_frames(infos, settings, engine, progress=bars, cache_dir=cache_dir)
    target = args.out / "reconstruction.npz"
    target.unlink(missing_ok=True)
    if cache_dir is None:
        cache.save(recon, target)
    else:
        cached = cache_path(cache_dir, infos, engine.model_id, settings)
        try:
            os.link(cached, target)  # same data, no second copy on disk
        except OSError:
            shutil.copyfile(cached, target)
    return _export(recon, args, exports, settings)


def _export(recon, args: argparse.Namespace, exports: list[str], settings) -> dict:
    from .export.colmap import write_colmap
    from .export.ply import write_ply
    from .filters import select_points

    points = select_points(
        recon, source=args.source, conf_percentile=args.conf_percentile, max_points=args.max_points
    )
    written = ["reconstruction.npz"]
    if "ply" in exports:
        write_ply(args.out / "points.ply", points)
        written.append("points.ply")
    if "colmap" in exports:
        write_colmap(args.out / "sparse" / "0", recon, points)
        written.append("sparse/0")
    summary = {
        "frames": len(recon.frames),
        "sources": sorted({f.source for f in recon.frames}),
        "frame_indices": [f.index for f in recon.frames],
        "original_sizes": [[f.width, f.height] for f in recon.frames],
        "model_size_hw": list(recon.model_size),
        "model_id": recon.model_id,
        "points": len(points),
        "timings_s": {k: round(v, 3) for k, v in recon.timings.items()},
        "settings": asdict(settings),
        "files": written + ["summary.json"],
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"{len(recon.frames)} frames, {len(points)} points -> {args.out}", file=sys.stderr)
    return summary


class _ProgressBars:
    """``progress(stage, fraction)`` callback showing one tqdm bar per stage (hidden when not a terminal)."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.bar = None

    def __call__(self, stage: str, fraction: float) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=100, desc=stage, unit="%", leave=True, disable=None, file=sys.stderr)
        self.bar.n = min(100, round(100 * fraction))
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> _ProgressBars:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
