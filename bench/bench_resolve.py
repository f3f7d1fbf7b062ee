"""Re-solve from the network cache: what changing only the lens costs, against the first run.

A synthetic shot (``bench_long``: a camera walking through a box room, 518x294 model frames, in chunks)
goes through the real pipeline (``reconstruct_frames`` with a cache folder) with ``GroundTruthEngine``
standing in for VGGT. Its "network" takes next to no time, so the first run here is frame decoding, the
stand-in, stitching and the cache writes, not VGGT's minutes; what the table shows is the re-solve's own
cost (network output loaded from the cache, lens solve, solved result written) and that the stand-in is
not called again. No bundle adjustment (the bench's stand-in has no track head).

    python bench/bench_resolve.py                 # -> bench/results/resolve_cpu.{json,md}
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / d) for d in ("", "bench")]
import bench_long  # noqa: E402
from bench_common import RESULTS, command_line, hardware, md_table, write_json  # noqa: E402
from vggt_core.run import cache  # noqa: E402
from vggt_core import ReconstructSettings, reconstruct_frames  # noqa: E402

LENSES = ({"lens": "per-frame"}, {"lens": "shared"}, {"lens": "known", "focal_px": 400.0})


def measure(frames: int, chunk_size: int, overlap: int) -> list[dict]:
    """One row per lens: seconds, network (stand-in) calls so far, cache size."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache_dir = Path(tmp) / "frames", Path(tmp) / "cache"
        bench_long.write_shot_frames(folder, frames, size=(518, 294))
        weights = Path(tmp) / "standin.safetensors"
        weights.write_bytes(b"stand-in weights")  # names the "weights", so results are cached
        base = dict(chunk_size=chunk_size, overlap=overlap)
        infos, engine = bench_long.standin_for(folder, bench_long.synthetic_shot(frames, H=294, W=518),
                                               ReconstructSettings(**base), model_id=str(weights))
        for lens in LENSES:
            t0 = time.perf_counter()
            reconstruct_frames(infos, ReconstructSettings(**base, **lens), engine, cache_dir=cache_dir)
            rows.append({"frames": frames, "chunk_size": chunk_size, "lens": lens["lens"],
                         "seconds": time.perf_counter() - t0, "network_calls": len(engine.calls),
                         "cache_mb": cache.usage(cache_dir)[1] / 1e6})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, nargs="+", default=[48, 144])
    p.add_argument("--chunk-size", type=int, default=32)
    p.add_argument("--overlap", type=int, default=8)
    args = p.parse_args()
    rows = [r for n in args.frames for r in measure(n, args.chunk_size, args.overlap)]
    hw = hardware("cpu")
    write_json(RESULTS / "resolve_cpu.json", {"hardware": hw, "command": command_line(), "rows": rows})
    table = md_table(["frames", "chunk size", "lens", "seconds", "network calls so far", "cache MB"],
                     [[r["frames"], r["chunk_size"], r["lens"], f"{r['seconds']:.1f}", r["network_calls"],
                       f"{r['cache_mb']:.0f}"] for r in rows])
    text = (f"# Re-solve from the network cache\n\n{hw['cpu']}, {hw['cpu_cores']} cores; `{command_line()}`\n\n"
            "First row of each shot: the first run (stand-in network, stitching, cache writes); the others "
            "change only the lens and re-solve from the cached network output.\n\n" + table + "\n")
    (RESULTS / "resolve_cpu.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
