"""fp32 CPU forward time and peak RSS of VGGT-1B with the reference's synthetic weights.

Usage: ``python bench/bench_model_cpu.py --frames 4 --height 518 --width 518 --queries 8``.
Needs the reference folder (``$VGGT_REFERENCE_DIR`` or ``<repo>/../shared/reference``) for
``make_weights.py``. About 7 GB RAM at S=4, 518x518. Not a test: numbers depend on the machine
and its load; prints per-stage times from the model's progress callback.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from vggt_core.models.vggt import VGGT, VGGTConfig  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--height", type=int, default=518)
    ap.add_argument("--width", type=int, default=518)
    ap.add_argument("--queries", type=int, default=8)
    args = ap.parse_args()
    ref = Path(os.environ.get("VGGT_REFERENCE_DIR") or REPO.parent / "shared" / "reference")
    spec = importlib.util.spec_from_file_location("make_weights", ref / "make_weights.py")
    mw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mw)

    t0 = time.perf_counter()
    with torch.device("meta"):
        model = VGGT(VGGTConfig())
    model.load_state_dict(mw.make_state_dict(ref / "vggt1b_state_dict.json", 0), strict=True, assign=True)
    model.eval()
    print(f"weights built and loaded: {time.perf_counter() - t0:.1f} s, peak RSS {peak_rss_gb():.2f} GB")

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(args.frames, 3, args.height, args.width, generator=gen)
    queries = None
    if args.queries:
        queries = torch.rand(args.queries, 2, generator=gen) * torch.tensor([args.width - 1.0, args.height - 1.0])
    last: dict[str, float] = {}

    def callback(stage: str, done: int, total: int) -> None:
        last[stage] = time.perf_counter()

    t0 = time.perf_counter()
    with torch.inference_mode():
        model(images, queries, callback=callback)
    total = time.perf_counter() - t0
    prev = t0
    for stage, t in last.items():
        print(f"  {stage:10s} {t - prev:7.1f} s")
        prev = t
    print(
        f"S={args.frames} {args.width}x{args.height} queries={args.queries} threads={torch.get_num_threads()}: "
        f"forward {total:.1f} s, peak RSS {peak_rss_gb():.2f} GB"
    )


if __name__ == "__main__":
    main()
