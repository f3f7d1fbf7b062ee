"""Tracks refined on the plate (``vggt_core.solve.plate_tracks``): accuracy against time, at 1920 and 3840 wide.

Plates with known sub-pixel motion (tests/plate_pixels.py): an analytic band-limited texture seen through a
homography, rendered exactly at each pixel centre, with 2 levels of Gaussian grain (8-bit). Two motions per
resolution: a shift (sub-pixel, the patch unchanged) and a far frame of a shot (3 degrees of roll, 6 % scale, a
little perspective: the patch deforms). 1024 query points on a grid of the first plate (pixel centres), the head's
start 3 model px off in random directions (11 plate px at 1920, 22 at 3840: the hard case). Methods:

* ``lk wN``: OpenCV's pyramidal Lucas-Kanade alone (translational, an N px window), the pyramid the product uses;
* ``lk + affine wN``: the product's ``refine_points``: that, checked forward-backward, then the
  inverse-compositional affine pass and the correlation check (``plate_tracks.WINDOW`` = 21 is the product's).

Reported: share of tracks kept (converged and passing the checks), error of the kept ones against the truth
(median, 95th percentile, max, plate px) and milliseconds for 1024 tracks on one frame. Then the whole refinement
(``refine_tracks``: PNG frames read again, snapping, both passes) on a 6-frame plate: seconds per frame. Last,
the solve on a ray-cast 1920x1080 dolly past textured cards (``plate_pixels.dolly_scene``, 12 frames, grain) from
the engine stand-in's worse head (1.5 model px noise, 20 % outliers, 1024 queries on 4 frames): on the head's
tracks, on the refined tracks solved with the head's model-pixel tolerances, and as the product solves them (plate
pixels). CG slip: 2000 scene points through the solved camera against the true one (the solved world scaled to the
true one by the camera centres; both are the first camera's frame), plate px.

    .venv/bin/python bench/bench_track_refine.py       # -> bench/results/track_refine_cpu.json + .md
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_common import RESULTS, command_line, cpu_model, md_table, total_ram_gb, write_json  # noqa: E402
from plate_pixels import apply_h, dolly_scene, scene_recon, similarity, tracked_recon, warp_plate  # noqa: E402
from solve_shots import rotation_errors_deg  # noqa: E402

from vggt_core.plate import pixels_to_model  # noqa: E402
from vggt_core.solve import cv_points, pyramid_levels, refine_points, refine_tracks, solve  # noqa: E402

SIZES = ((1920, 1080), (3840, 2160))
GRAIN = 2.0
HEAD_OFF_MODEL_PX = 3.0


def motions(size: tuple[int, int]) -> dict[str, np.ndarray]:
    w, h = size
    k = w / 1920
    return {"shift": similarity(12.37 * k, -7.81 * k),
            "far frame": similarity(15.3 * k, -6.1 * k, angle_deg=3.0, scale=1.06, centre=(w / 2, h / 2),
                                    tilt=(2e-5 / k, -1e-5 / k))}


def grid(size: tuple[int, int], n: int = 1024) -> np.ndarray:
    side = int(np.sqrt(n))
    xs = np.linspace(0.05, 0.95, side) * size[0]
    ys = np.linspace(0.07, 0.93, side) * size[1]
    return np.floor(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)) + 0.5


def method(name: str, ref: np.ndarray, grey: np.ndarray, query: np.ndarray, start: np.ndarray, levels: int):
    import cv2

    window = int(name.split("w")[-1])
    if name.startswith("lk +"):
        return refine_points(ref, grey, query, start, levels, window)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-3)
    found, ok, _ = cv2.calcOpticalFlowPyrLK(ref, grey, cv_points(query), cv_points(start), winSize=(window, window),
                                            maxLevel=levels, criteria=crit, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    return found.reshape(-1, 2) + 0.5, ok.ravel() == 1


METHODS = ("lk w15", "lk w21", "lk w31", "lk + affine w15", "lk + affine w21", "lk + affine w31")


def accuracy(size: tuple[int, int], rng: np.random.Generator) -> list[dict]:
    import cv2

    rows = []
    ref_rgb = warp_plate(size, np.eye(3), grain=GRAIN, seed=0)
    ref = cv2.cvtColor(ref_rgb, cv2.COLOR_RGB2GRAY)
    px = size[0] / 518
    levels = pyramid_levels(px)
    query = grid(size)
    for motion, h in motions(size).items():
        grey = cv2.cvtColor(warp_plate(size, h, grain=GRAIN, seed=0), cv2.COLOR_RGB2GRAY)
        truth = apply_h(np.linalg.inv(h), query)
        ang = rng.uniform(0, 2 * np.pi, len(query))
        start = truth + HEAD_OFF_MODEL_PX * px * np.c_[np.cos(ang), np.sin(ang)]
        for name in METHODS:
            method(name, ref, grey, query[:16], start[:16], levels)  # warm-up
            t0 = time.perf_counter()
            found, ok = method(name, ref, grey, query, start, levels)
            ms = 1e3 * (time.perf_counter() - t0)
            err = np.hypot(*(found - truth).T)[ok]
            row = {"size": list(size), "motion": motion, "method": name, "levels": levels, "kept": float(ok.mean()),
                   "median_px": float(np.median(err)), "p95_px": float(np.percentile(err, 95)),
                   "max_px": float(err.max()), "ms_per_1024": round(ms, 1)}
            rows.append(row)
            print(row, flush=True)
    return rows


def whole(size: tuple[int, int], frames: int = 6) -> dict:
    """``refine_tracks`` on a ``frames``-frame plate (PNG), 1024 tracks queried on frame 0: seconds per frame."""
    from PIL import Image

    px = size[0] / 518
    query = grid(size)
    hs = [similarity(3.1 * i * size[0] / 1920, -1.7 * i * size[0] / 1920, angle_deg=0.5 * i, scale=1 + 0.01 * i,
                     centre=(size[0] / 2, size[1] / 2)) for i in range(frames)]
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, h in enumerate(hs):
            paths.append(Path(tmp) / f"plate.{1001 + i}.png")
            Image.fromarray(warp_plate(size, h, grain=GRAIN, seed=0)).save(paths[-1])
        head = np.stack([apply_h(np.linalg.inv(h), query) for h in hs])
        head[1:] += rng.normal(0, 1.5 * px, head[1:].shape)  # the worse head: 1.5 model px per axis
        recon = tracked_recon(paths, size, head, np.ones(head.shape[:2], bool), np.zeros(len(query), int))
        t0 = time.perf_counter()
        out = refine_tracks(recon)
        seconds = time.perf_counter() - t0
    truth = np.stack([apply_h(np.linalg.inv(h), apply_h(hs[0], out.tracks_plate[0])) for h in hs])
    err = np.hypot(*(out.tracks_plate - truth)[out.tracks_plate_vis].T)
    return {"size": list(size), "frames": frames, "tracks": len(query), "seconds": round(seconds, 2),
            "seconds_per_frame": round(seconds / frames, 3), "kept": float(out.tracks_plate_vis[1:].mean()),
            "median_px": float(np.median(err)), "p95_px": float(np.percentile(err, 95))}


def slip(scene, out, points: np.ndarray) -> np.ndarray:
    """Plate px between ``points [P, 3]`` (true world) through ``out``'s cameras and through the true ones, where
    the true camera sees them; ``out``'s world scaled to the true one by the camera centres."""
    c_est = np.einsum("sji,sj->si", out.extrinsics[:, :, :3].astype(float), -out.extrinsics[:, :, 3].astype(float))
    c_true = np.array([scene.centre(s) for s in range(len(c_est))])
    ext = out.extrinsics.astype(float)
    ext[:, :, 3] *= np.sum(c_est * c_true) / np.sum(c_est * c_est)
    cam = np.einsum("sij,nj->sni", ext[:, :, :3], points) + ext[:, None, :, 3]
    h = np.einsum("sij,snj->sni", out.intrinsics.astype(float), cam)
    truth, seen = scene.project(points)
    return np.hypot(*(h[..., :2] / h[..., 2:3] - truth)[seen].T)


def solves(size: tuple[int, int] = (1920, 1080), frames: int = 12) -> list[dict]:
    """The rendered dolly solved three ways (see the module's docstring)."""
    import warnings

    scene = dolly_scene(frames, size=size, focal=0.875 * size[0])
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rays that miss every card
        recon, _ = scene_recon(scene, tmp, queries=1024, query_frames=4)
        refined = refine_tracks(recon)
    as_head = replace(recon, tracks=np.stack([pixels_to_model(t, r) for t, r in
                                              zip(refined.tracks_plate, recon.preprocess)]).astype(np.float32),
                      track_vis=refined.tracks_plate_vis.astype(np.float32))
    points = scene.cast(0, np.random.default_rng(5).uniform([0, 0], size, (2000, 2)))[2]
    rows = []
    for name, r in (("head's tracks", recon), ("refined, head's tolerances", as_head),
                    ("refined (the product)", refined)):
        t0 = time.perf_counter()
        out = solve(r, lens="shared", refine="ba")
        e = slip(scene, out, points)
        rows.append({"tracks": name, "size": list(size), "frames": frames,
                     "rot_err_deg": float(rotation_errors_deg(out.extrinsics.astype(float), scene.extrinsics).max()),
                     "focal_err_pct": float(100 * np.abs(out.intrinsics[:, 0, 0] / scene.k[0, 0] - 1).max()),
                     "slip_px": [float(np.median(e)), float(np.percentile(e, 95)), float(e.max())],
                     "rmse_px": out.solve.get("rmse_px"), "verdict": out.solve["verdict"],
                     "refine_s": round(refined.timings["plate_tracks"], 1) if r is refined else None,
                     "solve_s": round(time.perf_counter() - t0, 1)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(RESULTS / "track_refine_cpu"), help="output stem (.json and .md)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = [r for size in SIZES for r in accuracy(size, rng)]
    runs = [whole(size) for size in SIZES]
    for r in runs:
        print(r, flush=True)
    solved = solves()
    hw = {"cpu": cpu_model(), "cpu_cores": __import__("os").cpu_count(), "ram_gb": total_ram_gb(),
          "opencv": cv2.__version__, "numpy": np.__version__}
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {"command": command_line(), "hardware": hw, "accuracy": rows, "whole": runs,
                                              "solve": solved})
    table = [[f"{r['size'][0]}x{r['size'][1]}", r["motion"], r["method"], f"{r['kept']:.1%}",
              f"{r['median_px']:.3f} / {r['p95_px']:.3f} / {r['max_px']:.3f}", f"{r['ms_per_1024']:.0f}"] for r in rows]
    whole_table = [[f"{r['size'][0]}x{r['size'][1]}", r["frames"], r["tracks"], f"{r['seconds_per_frame']:.2f}",
                    f"{r['kept']:.1%}", f"{r['median_px']:.3f} / {r['p95_px']:.3f}"] for r in runs]
    text = (f"# Tracks refined on the plate (CPU)\n\n`{command_line()}` on {hw['cpu']} ({hw['cpu_cores']} cores, "
            f"shared with other work while measured: times are upper bounds), OpenCV {hw['opencv']}. Textured plane "
            f"through a homography, {GRAIN:g} levels of grain, 1024 tracks, the head's start {HEAD_OFF_MODEL_PX:g} "
            "model px off. Error of the kept tracks against the truth: median / 95th percentile / max, plate px.\n\n"
            + md_table(["plate", "motion", "method", "kept", "error px", "ms / 1024 tracks / frame"], table)
            + "\n\nThe whole refinement (`refine_tracks`: PNG frames read again, query points snapped to texture, "
            "both passes), 1024 tracks queried on frame 0, the head 1.5 model px off per axis:\n\n"
            + md_table(["plate", "frames", "tracks", "s / frame", "kept", "error px (median / p95)"], whole_table)
            + "\n\nThe solve (`--lens shared --refine ba`) on a ray-cast 1920x1080 dolly, 12 frames, from the engine "
            "stand-in's worse head (1.5 model px, 20 % outliers). CG slip: median / 95th percentile / max, plate px:\n\n"
            + md_table(["tracks", "max rot err deg", "max focal err %", "CG slip px", "RMSE px", "verdict",
                        "refinement s", "solve s"],
                       [[r["tracks"], f"{r['rot_err_deg']:.4f}", f"{r['focal_err_pct']:.3f}",
                         " / ".join(f"{v:.3f}" for v in r["slip_px"]), f"{r['rmse_px']:.3f}", r["verdict"],
                         r["refine_s"] if r["refine_s"] is not None else "-", r["solve_s"]] for r in solved])
            + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
