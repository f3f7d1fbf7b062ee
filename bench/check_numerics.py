"""Numerics of a device/precision against the original implementation's fp32 CPU outputs.

    python bench/check_numerics.py --device cpu --dtype bf16 --name numerics_cpu_bf16
    python bench/check_numerics.py --device cuda --dtype bf16 --name numerics_cuda_bf16

Runs the full-size VGGT-1B with the reference's synthetic weights (`make_weights.py`, seed 0) on the
fixture (`fixture_small.npz`: 3 frames at 140x182, 8 queries) through `Engine.predict`, i.e. exactly
as users run it at that precision, and reports per output the max absolute error, the max error
relative to max|ref| (the SPEC section 11 measure, tolerance 1e-4 in fp32) and the median relative
error. The reference folder is `$VGGT_REFERENCE_DIR` or `../shared/reference`. Writes
`bench/results/<name>.json` and `.md`. Tracks are listed for completeness: with synthetic weights
the tracker is chaotic (1e-6 input noise moves them ~0.6 px), so only their order of magnitude means
anything.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench_common import REPO, RESULTS, command_line, hardware, md_table, peak_rss_gb, write_json

OUTPUTS = ("pose_enc", "extrinsic", "intrinsic", "depth", "depth_conf", "world_points", "world_points_conf", "track", "vis", "conf")


def reference_dir() -> Path:
    return Path(os.environ.get("VGGT_REFERENCE_DIR") or REPO.parent / "shared" / "reference")


def errors(ours: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """max |ours - ref|, that over max(1, max|ref|), and the median of |ours - ref| / max(|ref|, 1e-3)."""
    ours = ours.astype(np.float64).reshape(ref.shape)
    diff = np.abs(ours - ref)
    return {
        "max_abs": float(diff.max()),
        "max_rel": float(diff.max() / max(1.0, float(np.abs(ref).max()))),
        "median_rel": float(np.median(diff / np.maximum(np.abs(ref), 1e-3))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    ap.add_argument("--name", help="result file stem (default numerics_<device>_<dtype>)")
    args = ap.parse_args()

    import torch

    from vggt_core.network import Engine, pick_device, pick_dtype
    from vggt_core import VGGT

    ref_dir = reference_dir()
    spec = importlib.util.spec_from_file_location("make_weights", ref_dir / "make_weights.py")
    make_weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_weights)
    fixture = dict(np.load(ref_dir / "fixture_small.npz"))

    device = pick_device(args.device)
    dtype_name = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[pick_dtype(args.dtype, device)]
    with torch.device("meta"):
        model = VGGT()
    state = make_weights.make_state_dict(ref_dir / "vggt1b_state_dict.json", 0)
    model.load_state_dict(state, strict=True, assign=True)
    del state
    engine = Engine.from_model(model, device=str(device), dtype=args.dtype)
    images, queries = fixture["input_images"], fixture["input_query_points"]
    engine.predict(images, queries)  # warm-up (kernel selection, RoPE tables)
    t0 = time.perf_counter()
    out = engine.predict(images, queries)
    seconds = time.perf_counter() - t0

    rows, result = [], {}
    for key in OUTPUTS:
        result[key] = errors(out[key], fixture[f"out_{key}"])
        e = result[key]
        rows.append([key, f"{e['max_abs']:.2e}", f"{e['max_rel']:.2e}", f"{e['median_rel']:.2e}"])
    name = args.name or f"numerics_{device.type}_{dtype_name}"
    hw = hardware(str(device))
    data: dict[str, Any] = {
        "command": command_line(), "hardware": hw, "dtype": dtype_name, "forward_s": seconds,
        "peak_rss_gb": peak_rss_gb(), "errors": result,
    }  # fmt: skip
    write_json(RESULTS / f"{name}.json", data)
    where = hw.get("gpu") or hw["cpu"]
    md = (
        f"# VGGT-1B {device.type} {dtype_name} vs the original's fp32 CPU outputs ({where})\n\n"
        f"Fixture: 3 frames 140x182, 8 queries, synthetic weights seed 0; forward {seconds:.2f} s.\n"
        f"Command: `{data['command']}`\n\n"
        + md_table(["output", "max abs error", "max rel (SPEC §11)", "median rel"], rows)
        + "\n\nTracks/vis/conf: the synthetic-weight tracker is chaotic (fp32 noise alone moves tracks ~0.6 px).\n"
    )
    (RESULTS / f"{name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
