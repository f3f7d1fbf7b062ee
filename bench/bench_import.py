"""Import timings of the Blender builders (headless bpy): point clouds of 1M and 5M points, 50 depth
proxies, and whole ``import_reconstruction`` calls on a synthetic 50-frame reconstruction.

Usage: ``python bench/bench_import.py [--points 1000000 5000000] [--frames 50]`` with a Python that has
bpy (the main venv: 5.0; ``.venv-bpy42``: 4.2). Writes ``bench/results/import_bpy<ver>.json`` and
``.md``. Not a test: numbers depend on the machine (record it with the results).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import bpy  # noqa: E402

from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.builders.datablocks import Ledger  # noqa: E402
from vggt_blender.builders.depth_mesh import build_depth_proxy  # noqa: E402
from vggt_blender.builders.points import build_point_cloud, evaluated_point_count  # noqa: E402


def _clock(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def _fresh():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    col = bpy.data.collections.new("bench")
    sc.collection.children.link(col)
    root = bpy.data.objects.new("root", None)
    col.objects.link(root)
    return sc, col, root


def bench_points(n: int) -> dict:
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    conf = (1 + rng.exponential(2, n)).astype(np.float32)
    frame = rng.integers(0, 50, n).astype(np.int32)
    _, col, root = _fresh()
    pts, t_pack = _clock(convert.point_arrays, xyz, rgb, conf, frame)
    obj, t_build = _clock(build_point_cloud, Ledger(), pts, "bench", col, root, 0.005)
    count, t_eval = _clock(evaluated_point_count, obj)
    assert count == n
    return {"points": n, "pack_s": t_pack, "build_s": t_build, "first_eval_s": t_eval}


def bench_proxies(recon, stride: int) -> dict:
    _, col, root = _fresh()
    t_conv = t_build = 0.0
    faces = verts = 0
    for i in range(recon.num_frames):
        pm, dt = _clock(convert.depth_proxy_mesh, recon, i, stride)
        t_conv += dt
        _, dt = _clock(build_depth_proxy, Ledger(), pm, f"p{i}", col, root)
        t_build += dt
        faces += pm.num_faces
        verts += len(pm.positions)
    return {"proxies": recon.num_frames, "stride": stride, "faces": faces, "vertices": verts,
            "convert_s": t_conv, "build_s": t_build}


def bench_full(recon, **kw) -> dict:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    st = convert.ImportSettings(**kw)
    col, dt = _clock(import_reconstruction, recon, st, bpy.context.scene)
    n_pts = sum(len(o.data.vertices) for o in col.all_objects if o.type == "MESH" and "VGGT Points" in o.modifiers)
    return {"settings": kw, "import_s": dt, "objects": len(col.all_objects), "points": n_pts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, nargs="+", default=[1_000_000, 5_000_000])
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--model-hw", type=int, nargs=2, default=[392, 518])
    args = ap.parse_args()

    res = {"bpy": bpy.app.version_string, "python": platform.python_version(), "machine": platform.machine(),
           "cpus": os.cpu_count(), "points": [], "proxies": [], "full": []}
    for n in args.points:
        res["points"].append(bench_points(n))
        print(res["points"][-1], flush=True)
    recon, t_synth = _clock(make_recon, [(1920, 1080)] * args.frames, model_hw=tuple(args.model_hw))
    print(f"synthetic recon {args.frames}x{args.model_hw}: {t_synth:.1f}s", flush=True)
    for stride in (1, 2):
        res["proxies"].append(bench_proxies(recon, stride))
        print(res["proxies"][-1], flush=True)
    for kw in ({}, {"proxy_every": 1}, {"proxy_every": 1, "proxy_stride": 1, "max_points": 5_000_000,
                                        "conf_percentile": 0.0}):
        res["full"].append(bench_full(recon, **kw))
        print(res["full"][-1], flush=True)

    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"import_bpy{bpy.app.version_string.split()[0]}"
    stem.with_suffix(".json").write_text(json.dumps(res, indent=2))
    lines = [f"# Import timings, bpy {res['bpy']} ({res['cpus']} CPUs, {res['machine']})", "",
             "| points | pack (convert) s | build mesh+attrs+GN s | first GN eval s |", "|---|---|---|---|"]
    lines += [f"| {p['points']:,} | {p['pack_s']:.3f} | {p['build_s']:.3f} | {p['first_eval_s']:.3f} |"
              for p in res["points"]]
    lines += ["", f"Depth proxies ({args.frames} frames, model {args.model_hw[0]}x{args.model_hw[1]}):", "",
              "| stride | faces | vertices | convert s | build s |", "|---|---|---|---|---|"]
    lines += [f"| {p['stride']} | {p['faces']:,} | {p['vertices']:,} | {p['convert_s']:.2f} | {p['build_s']:.2f} |"
              for p in res["proxies"]]
    lines += ["", "Full `import_reconstruction` (same reconstruction):", "",
              "| settings (vs defaults) | objects | points | seconds |", "|---|---|---|---|"]
    lines += [f"| {json.dumps(f['settings']) if f['settings'] else 'defaults'} | {f['objects']} | {f['points']:,} | "
              f"{f['import_s']:.2f} |" for f in res["full"]]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
