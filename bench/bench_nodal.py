"""Tripod (nodal) adjustment at length: a synthetic nodal pan of S frames (a 1920x1080 plate, focal 1500 px, 60
degrees of pan, 1024 tracks each seen while in frame, 0.5 px noise, 5 % outliers), solved from rotations 0.5
degrees off and a focal 3 % off. Reports the adjuster's time, peak RSS and its rotation and focal errors.

    python bench/bench_nodal.py                       # S = 100, 300, 1000 -> bench/results/nodal_cpu.{json,md}
    python bench/bench_nodal.py --frames 300 --name nodal_300   # one length
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent),
                str(Path(__file__).resolve().parents[1] / "tests")]
from bench_common import RESULTS, command_line, hardware, md_table, peak_rss_gb, write_json  # noqa: E402
from solve_shots import rotation  # noqa: E402

from vggt_core.solve import nodal_adjust  # noqa: E402

W, H, F = 1920, 1080, 1500.0


def pan(frames: int, tracks: int, seed: int) -> dict:
    """True rotations [S,3,3] (world-to-camera), directions [N,3], observations uv [S,N,2] and seen [S,N]."""
    rng = np.random.default_rng(seed)
    yaw = np.radians(np.linspace(0, 60, frames))
    rot = np.stack([rotation(np.array([0.0, a, 0.0])) @ rotation(rng.normal(0, 0.002, 3)) for a in yaw])
    az = rng.uniform(-np.radians(32), np.radians(92), tracks)  # over the pan's field of view
    el = rng.uniform(-np.radians(18), np.radians(18), tracks)
    d = np.c_[np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)]
    x = np.einsum("sij,nj->sni", rot, d)
    uv = F * x[..., :2] / x[..., 2:] + [W / 2, H / 2]
    seen = (x[..., 2] > 0) & (uv[..., 0] > 0) & (uv[..., 0] < W) & (uv[..., 1] > 0) & (uv[..., 1] < H)
    uv = uv + rng.normal(0, 0.5, uv.shape)
    bad = rng.random(seen.shape) < 0.05
    uv[bad] += rng.normal(0, 40, (int(bad.sum()), 2))
    return {"rot": rot, "d": d, "uv": uv, "seen": seen, "rng": rng}


def run(frames: int, tracks: int = 1024, seed: int = 0) -> dict:
    shot = pan(frames, tracks, seed)
    rng = shot["rng"]
    rot0 = np.stack([rotation(rng.normal(0, np.radians(0.5) / np.sqrt(3), 3)) @ r for r in shot["rot"]])
    rot0[0] = shot["rot"][0]  # frame 0 is the world
    k = np.tile(np.array([[F * 1.03, 0, W / 2], [0, F * 1.03, H / 2], [0, 0, 1]]), (frames, 1, 1))
    d0 = np.einsum("ji,nj->ni", rot0[0], np.einsum("ij,nj->ni", shot["rot"][0], shot["d"]))
    t0 = time.perf_counter()
    out = nodal_adjust(k, rot0, d0, shot["uv"], shot["seen"], shared=True, max_error_px=8.0)
    seconds = time.perf_counter() - t0
    rel = np.einsum("sji,sjk->sik", out.extrinsics[:, :, :3], shot["rot"])  # solved^T @ true
    angle = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    return {"frames": frames, "tracks": tracks, "observations": int(shot["seen"].sum()),
            "obs_per_track": round(float(shot["seen"].sum(0).mean()), 1), "seconds": round(seconds, 2),
            "peak_rss_gb": round(peak_rss_gb(), 2),
            "max_rot_deg": round(float(angle.max()), 4), "focal_err_pct": round(float(abs(out.intrinsics[0, 0, 0] / F - 1) * 100), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--name", default="nodal_cpu")
    args = ap.parse_args()
    rows = []
    for s in args.frames:
        rows.append(run(s))
        print(rows[-1], flush=True)
    meta = {"command": command_line(), "hardware": hardware("cpu")}
    write_json(RESULTS / f"{args.name}.json", {**meta, "rows": rows})
    cols = ["frames", "tracks", "observations", "obs_per_track", "seconds", "peak_rss_gb", "max_rot_deg", "focal_err_pct"]
    what = " ".join(__doc__.split("\n\n")[0].split())
    text = (f"# Tripod (nodal) adjustment at length\n\n{what}\n\n"
            f"Command: `{meta['command']}`; {meta['hardware']['cpu']}, {meta['hardware']['cpu_cores']} cores. Peak RSS is the process's, cumulative over rows.\n\n"
            + md_table(cols, [[r[c] for c in cols] for r in rows]) + "\n")
    (RESULTS / f"{args.name}.md").write_text(text)


if __name__ == "__main__":
    main()
