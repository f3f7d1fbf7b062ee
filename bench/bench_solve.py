"""Camera-solve accuracy and speed on synthetic shots with known cameras (ground truth lives here and in tests/).

For each shot (dolly, orbit, handheld push-in; 16:9 1920x1080; 24-100 frames) the tracks carry Gaussian noise
(``--noise`` px per image axis) and a share of gross outliers (``--outliers``), and the solve starts from cameras
perturbed like VGGT's errors (see tests/solve_shots.py). It runs the product's own steps (``vggt_core.solve``:
triangulate, bundle_adjust) and reports, before and after: focal error, max rotation error, max camera-centre
error (fraction of the path length), reprojection RMSE over inliers (with the noise floor: the RMSE of the noise
itself on the true inliers) and the solve time.

    .venv/bin/python bench/bench_solve.py            # -> bench/results/solve_cpu.json + .md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_common import RESULTS, command_line, hardware, md_table, write_json  # noqa: E402
from solve_shots import center_errors, make_shot, project, rotation_errors_deg  # noqa: E402

from vggt_core.solve.adjust import bundle_adjust  # noqa: E402
from vggt_core.solve.triangulate import triangulate  # noqa: E402

CASES = [("dolly", 24, 1000), ("orbit", 48, 2000), ("handheld", 48, 2000),
         ("dolly", 100, 4000), ("orbit", 100, 4000), ("handheld", 100, 4000)]


def first_camera_world(ext: np.ndarray) -> np.ndarray:
    """Cameras [S,3,4] re-expressed in the first camera's frame (the gauge both worlds share)."""
    r0, t0 = ext[0, :, :3], ext[0, :, 3]
    out = np.empty_like(ext)
    out[:, :, :3] = ext[:, :, :3] @ r0.T
    out[:, :, 3] = ext[:, :, 3] - out[:, :, :3] @ t0
    return out


def rmse(k: np.ndarray, ext: np.ndarray, points: np.ndarray, uv: np.ndarray, mask: np.ndarray) -> float:
    proj, _ = project(k, ext, points)
    return float(np.sqrt(np.mean(np.sum((proj - uv) ** 2, axis=2)[mask])))


def run_case(kind: str, frames: int, tracks: int, noise: float, outliers: float, seed: int) -> dict:
    shot = make_shot(kind, frames, tracks, noise, outliers, seed)
    sizes = [shot.size] * frames
    t0 = time.perf_counter()
    points, ok = triangulate(shot.k_start, shot.extrinsics_start, shot.uv, shot.seen)
    t_tri = time.perf_counter() - t0
    seen = shot.seen & ok[None]
    inliers = seen & ~shot.outlier
    before_rmse = rmse(shot.k_start, shot.extrinsics_start, points, shot.uv, inliers & (seen.sum(0) >= 2))
    t0 = time.perf_counter()
    adj = bundle_adjust(shot.k_start, shot.extrinsics_start, sizes, shot.uv, seen, points, shared=True)
    t_ba = time.perf_counter() - t0
    est = first_camera_world(adj.extrinsics)
    clean, _ = project(shot.k, shot.extrinsics, shot.points)
    noise_floor = float(np.sqrt(np.mean(np.sum((shot.uv - clean) ** 2, axis=2)[inliers])))
    f_true = shot.k[0, 0]
    return {
        "shot": kind, "frames": frames, "tracks": tracks, "observations": int(shot.seen.sum()),
        "true_outliers": int(shot.outlier.sum()), "rejected": adj.rejected,
        "focal_err_pct_before": float(np.median(np.abs(shot.k_start[:, 0, 0] / f_true - 1)) * 100),
        "focal_err_pct_after": float(abs(adj.intrinsics[0, 0, 0] / f_true - 1) * 100),
        "rot_err_deg_before": float(rotation_errors_deg(shot.extrinsics_start, shot.extrinsics).max()),
        "rot_err_deg_after": float(rotation_errors_deg(est, shot.extrinsics).max()),
        "center_err_before": float(center_errors(shot.extrinsics_start, shot.extrinsics).max()),
        "center_err_after": float(center_errors(est, shot.extrinsics).max()),
        "rmse_px_before": before_rmse,
        "rmse_px_after": float(np.sqrt(np.nanmean(adj.errors[adj.seen] ** 2))),
        "noise_floor_px": noise_floor,
        "seconds_triangulate": t_tri, "seconds_ba": t_ba, "seconds": t_tri + t_ba,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", type=float, default=0.5, help="Gaussian track noise, px per image axis")
    ap.add_argument("--outliers", type=float, default=0.1, help="share of gross-outlier observations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "solve_cpu"), help="output stem (.json and .md)")
    args = ap.parse_args()
    rows = []
    for kind, frames, tracks in CASES:
        rows.append(run_case(kind, frames, tracks, args.noise, args.outliers, args.seed))
        r = rows[-1]
        print(f"{kind:9s} {frames:3d}x{tracks:4d}: focal {r['focal_err_pct_after']:.3f} %, rot {r['rot_err_deg_after']:.4f} deg, "
              f"RMSE {r['rmse_px_after']:.3f} px (floor {r['noise_floor_px']:.3f}), {r['seconds']:.2f} s", flush=True)
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {"command": command_line(), "hardware": hardware("cpu"),
                                          "noise_px": args.noise, "outliers": args.outliers, "results": rows})
    header = ["shot", "frames x tracks", "focal err % (start -> solved)", "max rot err deg", "max centre err (path)",
              "RMSE px (floor)", "outliers rejected / true", "time s"]
    table = [[r["shot"], f"{r['frames']} x {r['tracks']}",
              f"{r['focal_err_pct_before']:.1f} -> {r['focal_err_pct_after']:.3f}",
              f"{r['rot_err_deg_before']:.2f} -> {r['rot_err_deg_after']:.4f}",
              f"{r['center_err_before']:.4f} -> {r['center_err_after']:.5f}",
              f"{r['rmse_px_before']:.1f} -> {r['rmse_px_after']:.3f} ({r['noise_floor_px']:.3f})",
              f"{r['rejected']} / {r['true_outliers']}", f"{r['seconds']:.2f}"] for r in rows]
    text = (f"# Camera solve on synthetic shots (CPU)\n\n`{command_line()}`; noise {args.noise} px per axis, "
            f"{args.outliers:.0%} outliers, 1920x1080, true focal 1500 px. RMSE over the inliers the solve kept; "
            "the floor is the RMSE of the added noise itself (0.5 px per axis gives 0.71 px).\n\n"
            + md_table(header, table) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
