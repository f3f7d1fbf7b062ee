"""Import timings of the Blender builders (headless bpy): point clouds of 1M and 5M points step by step, 50
depth proxies, whole ``import_reconstruction`` calls on a synthetic 50-frame reconstruction, and a solved
1000-frame shot (the long-shot import).

Usage: ``python bench/bench_import.py [--points 1000000 5000000] [--frames 50] [--long-frames 1000]`` with a
Python that has bpy (the main venv: 5.0; ``.venv-bpy42``: 4.2). Writes ``bench/results/import_bpy<ver>.json``
and ``.md``. Not a test: numbers depend on the machine and its load (recorded with the results); each point
row is the median of ``--repeats`` runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

import bpy  # noqa: E402

from bench_common import RESULTS, command_line, cpu_model, md_table, total_ram_gb, write_json  # noqa: E402
from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.builders.datablocks import Ledger  # noqa: E402
from vggt_blender.builders.depth_mesh import build_depth_proxy  # noqa: E402
from vggt_blender.builders.points import build_point_cloud, build_point_mesh, evaluated_point_count  # noqa: E402

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


def _binary_search_rank(conf: np.ndarray) -> float:
    """Seconds of the rank by one binary search per point (``np.searchsorted`` into a sorted 131k sample): what
    ``confidence_rank`` did before its table, timed on the same data for comparison."""
    ref = np.sort(conf[np.random.default_rng(0).integers(0, conf.size, convert.points.RANK_REFERENCE)])
    return _clock(np.searchsorted, ref, conf)[1]


def bench_points(n: int, repeats: int) -> dict:
    """``n`` random points through each step: rank (``confidence_rank``, inside pack), pack (``point_arrays``:
    rank, colours, dtypes), mesh (``build_point_mesh``: vertices and attributes by ``foreach_set``), build
    (``build_point_cloud``: the mesh again, material, node group, object) and the first Geometry Nodes
    evaluation. Medians of ``repeats`` runs; ``total_s`` = pack + build + first eval, what an import pays (its
    median; ``best_total_s`` the fastest run's, the one least slowed by other work on a shared machine)."""
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    conf = (1 + rng.exponential(2, n)).astype(np.float32)
    frame = rng.integers(0, 50, n).astype(np.int32)
    runs = []
    for _ in range(repeats):
        _, col, root = _fresh()
        run = {"rank_s": _clock(convert.confidence_rank, conf, conf)[1]}
        pts, run["pack_s"] = _clock(convert.point_arrays, xyz, rgb, conf, frame)
        me, run["mesh_s"] = _clock(build_point_mesh, Ledger(), pts, "mesh only")
        bpy.data.meshes.remove(me)
        obj, run["build_s"] = _clock(build_point_cloud, Ledger(), pts, "bench", col, root, 0.005)
        count, run["first_eval_s"] = _clock(evaluated_point_count, obj)
        assert count == n
        run["binary_search_rank_s"] = _binary_search_rank(conf)
        runs.append(run)
    for r in runs:
        r["total_s"] = r["pack_s"] + r["build_s"] + r["first_eval_s"]
    out = {"points": n, "repeats": repeats, "runs": runs}
    out.update({k: statistics.median(r[k] for r in runs) for k in runs[0]})
    out["best_total_s"] = min(r["total_s"] for r in runs)
    return out


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


def _frame_change_ms(scene: bpy.types.Scene, frames: int = 20) -> float:
    """Milliseconds per ``frame_set`` once the scene is evaluated: what scrubbing the timeline costs."""
    scene.frame_set(scene.frame_start + 1)
    scene.frame_set(scene.frame_start + 2)
    t = time.perf_counter()
    for f in range(frames):
        scene.frame_set(scene.frame_start + 3 + f)
    return (time.perf_counter() - t) / frames * 1000


def bench_full(recon, repeats: int = 1, **kw) -> dict:
    """``import_reconstruction`` of ``recon`` with ``ImportSettings(**kw)`` into an empty file: the median of
    ``repeats`` imports, what it made, and then the cost of a frame change."""
    times = []
    for _ in range(repeats):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        col, dt = _clock(import_reconstruction, recon, convert.ImportSettings(**kw), bpy.context.scene)
        times.append(dt)
    dt = statistics.median(times)
    objs = list(col.all_objects)
    n_pts = sum(len(o.data.vertices) for o in objs if o.type == "MESH" and "VGGT Points" in o.modifiers)
    keyed = [len(o.get("vggt_reconstructed_frames", [])) for o in objs if o.type == "CAMERA"]
    return {"settings": kw, "import_s": dt, "import_runs_s": times,
            "frame_change_ms": _frame_change_ms(bpy.context.scene), "objects": len(objs), "points": n_pts,
            "cameras": len(keyed), "most_keys": max(keyed, default=0),
            "proxies": sum(1 for o in objs if o.type == "MESH" and "VGGT Points" not in o.modifiers)}


def long_recon(frames: int, model_hw: tuple[int, int], sparse: int = 20_000, seed: int = 0):
    """A solved shot of ``frames`` 1920x1080 movie frames: ``make_recon``'s cameras on one lens (1500 px), a solve
    report with per-frame errors (its graph is drawn at import) and ``sparse`` solved points each seen on 8
    consecutive frames (the locators' pick)."""
    hm, wm = model_hw
    f = 1500.0 * wm / 1920
    recon = make_recon([(1920, 1080)] * frames, model_hw, fx_fy=[(f, f)] * frames, video="/nonexistent/plate.mov",
                       seed=seed)
    rng = np.random.default_rng(seed)
    pick = rng.choice(np.flatnonzero(recon.valid), sparse, replace=False)
    first = np.minimum(pick // (hm * wm), frames - 8)
    obs = np.stack([(first[:, None] + np.arange(8)).ravel(), np.repeat(np.arange(sparse), 8)], axis=1)
    report = {"lens": "shared", "focal_before_px": 1450.0, "focal_after_px": 1500.0, "mean_px": 0.4,
              "rmse_px": 0.5, "tracks_used": sparse, "outliers_rejected": 0, "frame_numbers": list(range(frames)),
              "per_frame_px": rng.uniform(0.2, 0.6, frames).tolist()}
    return replace(recon, solve=report, sparse_points=recon.points_from_depth.reshape(-1, 3)[pick],
                   sparse_colors=recon.colors.reshape(-1, 3)[pick], sparse_obs=obs.astype(np.int32),
                   sparse_uv=np.zeros((len(obs), 2), np.float32))


def bench_long_steps(recon, settings: convert.ImportSettings) -> dict:
    """The long import's numpy steps on their own (seconds): cameras (``frame_cameras``: a clipping range per
    frame), points (``point_cloud_arrays``: select, cap, rank, pack), display size, proxy meshes."""
    out = {"cameras_s": _clock(convert.frame_cameras, recon)[1],
           "points_s": _clock(convert.point_cloud_arrays, recon, settings)[1],
           "display_size_s": _clock(convert.camera_display_size, recon)[1]}
    idx = convert.proxy_frame_indices(recon.num_frames, settings.proxy_every, settings.proxy_frames,
                                      settings.max_proxies)
    t = time.perf_counter()
    for i in idx:
        convert.depth_proxy_mesh(recon, i, settings.proxy_stride, settings.proxy_max_depth_jump,
                                 settings.proxy_conf_percentile)
    out.update(proxies=len(idx), proxy_meshes_s=time.perf_counter() - t)
    return out


def _settings_label(kw: dict) -> str:
    return json.dumps(kw) if kw else "defaults"


def write_results(res: dict, args) -> Path:
    stem = RESULTS / f"import_bpy{bpy.app.version_string.split()[0]}"
    write_json(stem.with_suffix(".json"), res)
    hw = res["hardware"]
    lines = [f"# Import timings, bpy {res['bpy']}", "",
             f"{hw['cpu']}, {hw['cpu_cores']} cores, {hw['ram_gb']:.0f} GB RAM, Python {hw['python']}; shared and "
             "loaded by other work, so runs vary by up to 2x.", "", f"Command: `{res['command']}`", "",
             f"## Point cloud (median of {args.repeats} runs, seconds)", "",
             "rank: `confidence_rank` (part of pack); binary search: the rank it replaced (one `np.searchsorted` "
             "per point into a sorted 131k sample), same data; pack: `point_arrays`; mesh: `build_point_mesh` "
             "(vertices and attributes by `foreach_set`, part of build); build: `build_point_cloud`; first eval: "
             "the Geometry Nodes modifier's first evaluation; total = pack + build + first eval (its median; best: the "
             "fastest run's).", ""]
    steps = ("rank_s", "binary_search_rank_s", "pack_s", "mesh_s", "build_s", "first_eval_s", "total_s", "best_total_s")
    lines.append(md_table(["points", "rank", "binary search", "pack", "mesh", "build", "first eval", "total", "best"],
                          [[f"{p['points']:,}", *(f"{p[k]:.3f}" for k in steps)] for p in res["points"]]))
    lines += ["", f"## Depth proxies ({args.frames} frames, model {args.model_hw[0]}x{args.model_hw[1]})", ""]
    lines.append(md_table(["stride", "faces", "vertices", "convert s", "build s"],
                          [[p["stride"], f"{p['faces']:,}", f"{p['vertices']:,}", f"{p['convert_s']:.2f}",
                            f"{p['build_s']:.2f}"] for p in res["proxies"]]))
    lines += ["", "## Full `import_reconstruction` (same reconstruction)", ""]
    lines.append(md_table(["settings (vs defaults)", "objects", "points", "seconds"],
                          [[_settings_label(f["settings"]), f["objects"], f"{f['points']:,}", f"{f['import_s']:.2f}"]
                           for f in res["full"]]))
    lg = res.get("long")
    if lg:
        lines += ["", f"## A solved {lg['frames']}-frame shot (model {lg['model_hw'][0]}x{lg['model_hw'][1]}, "
                  f"{lg['sparse']:,} solved points)", "",
                  "`long_recon`: `make_recon` cameras on one lens, a 1920x1080 movie plate (a path that does not "
                  "exist: no footage is read), a solve report and solved points. The animated camera is keyed on "
                  "every frame (keys column). Seconds: the median of "
                  f"{len(lg['imports'][0]['import_runs_s'])} imports; frame change: one `frame_set` after it. "
                  "Steps of the default import on their own, seconds: " +
                  ", ".join(f"{k[:-2].replace('_', ' ')} {v:.2f}" for k, v in lg["steps"].items() if k.endswith("_s"))
                  + f" ({lg['steps']['proxies']} proxy meshes).", ""]
        lines.append(md_table(["settings (vs defaults)", "objects", "cameras", "keys", "proxies", "points", "seconds",
                               "frame change ms"],
                              [[_settings_label(f["settings"]), f["objects"], f["cameras"], f["most_keys"],
                                f["proxies"], f"{f['points']:,}", f"{f['import_s']:.2f}", f"{f['frame_change_ms']:.2f}"]
                               for f in lg["imports"]]))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return stem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, nargs="*", default=[1_000_000, 5_000_000])
    ap.add_argument("--repeats", type=int, default=3, help="runs per point count (the median is kept)")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--model-hw", type=int, nargs=2, default=[392, 518])
    ap.add_argument("--long-frames", type=int, default=1000, help="the long shot's frames (0: skip it)")
    ap.add_argument("--long-model-hw", type=int, nargs=2, default=[147, 259],
                    help="its depth maps (default: half VGGT's 294x518 per axis, so it fits beside other work)")
    args = ap.parse_args()

    res = {"bpy": bpy.app.version_string, "command": command_line(),
           "hardware": {"cpu": cpu_model(), "cpu_cores": os.cpu_count(), "ram_gb": total_ram_gb(),
                        "python": platform.python_version(), "machine": platform.machine(), "numpy": np.__version__},
           "points": [], "proxies": [], "full": []}
    for n in args.points:
        res["points"].append(bench_points(n, args.repeats))
        print(res["points"][-1], flush=True)
    if args.frames:
        recon, t_synth = _clock(make_recon, [(1920, 1080)] * args.frames, model_hw=tuple(args.model_hw))
        print(f"synthetic recon {args.frames}x{args.model_hw}: {t_synth:.1f}s", flush=True)
        for stride in (1, 2):
            res["proxies"].append(bench_proxies(recon, stride))
            print(res["proxies"][-1], flush=True)
        every = {"proxy_every": 1, "max_proxies": 0}  # a proxy on every frame, as before max_proxies
        for kw in ({}, every, {**every, "proxy_stride": 1, "max_points": 5_000_000, "conf_percentile": 0.0}):
            res["full"].append(bench_full(recon, **kw))
            print(res["full"][-1], flush=True)
        del recon
    if args.long_frames:
        hw = tuple(args.long_model_hw)
        recon, t_synth = _clock(long_recon, args.long_frames, hw)
        print(f"long recon {args.long_frames}x{hw}: {t_synth:.1f}s", flush=True)
        lg = {"frames": args.long_frames, "model_hw": list(hw), "sparse": len(recon.sparse_points),
              "steps": bench_long_steps(recon, convert.ImportSettings()), "imports": []}
        print(lg["steps"], flush=True)
        for kw in ({}, {"per_frame_cameras": False}, {"depth_proxies": False},
                   {"max_proxies": 0}):
            lg["imports"].append(bench_full(recon, min(args.repeats, 3), **kw))
            print(lg["imports"][-1], flush=True)
        res["long"] = lg
    write_results(res, args)


if __name__ == "__main__":
    main()
