"""The camera solve with a moving object in the plate: masked, rejected automatically, or neither.

Synthetic 24-frame 1920x1080 dollies (tests/solve_shots.py) where 10 %, 25 % or 40 % of the 500 tracks lie on a
rigid box moving through the room (tests/mover_shots.py), moving five ways: across the frame against the dolly,
up through the frame, along the dolly's own path, slowly along it, and towards the camera (movers parallel to
the dolly follow the static scene's epipolar lines: only the depth test against VGGT's depth sees them; the
engine stand-in's depth sees the box where it is). Each shot is solved by the product's
``vggt_core.solve.solve`` (shared lens, ``ba``) three ways: no mask and no rejection, no mask with moving-track
rejection (the default), and the mover masked (the per-frame bounding rectangle an artist would draw); the clean
cell is the same shot without the mover, and the same clean shot with rejection says how many static tracks
rejection throws away where nothing moves. Reported: max rotation error, focal error, max camera-centre error
(fraction of the path), moving tracks rejected (true movers / static tracks) and the solve time.

    .venv/bin/python bench/bench_movers.py           # -> bench/results/movers_cpu.json + .md
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
from mover_shots import make_mover_shot, without  # noqa: E402
from solve_shots import center_errors, rotation_errors_deg, shot_recon  # noqa: E402

from vggt_core.solve import solve  # noqa: E402

MOTIONS = {"across, against the dolly": (-3.0, 0.0, 0.0), "up through the frame": (0.0, -3.0, 0.0),
           "along the dolly": (6.0, 0.0, -2.0), "slowly along the dolly": (1.0, 0.0, 0.0),
           "towards the camera": (0.0, 0.0, -1.0)}
SHARES = (0.1, 0.25, 0.4)


def run(shot, moving: np.ndarray, **kwargs) -> dict:
    t0 = time.perf_counter()
    out = solve(shot_recon(shot), lens="shared", refine="ba", **kwargs)
    seconds = time.perf_counter() - t0
    ext = out.extrinsics.astype(np.float64)
    rejected = np.zeros(len(moving), bool)
    if out.moving_tracks is not None:
        rejected[out.moving_tracks] = True
    return {"rot_err_deg": float(rotation_errors_deg(ext, shot.extrinsics).max()),
            "focal_err_pct": 100 * abs(float(out.intrinsics[0, 0, 0]) / shot.k[0, 0] - 1),
            "center_err": float(center_errors(ext, shot.extrinsics).max()),
            "rejected_movers": int(rejected[moving].sum()), "rejected_static": int(rejected[~moving].sum()),
            "verdict": out.solve["verdict"], "reasons": out.solve["reasons"], "seconds": round(seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "movers_cpu"), help="output stem (.json and .md)")
    args = ap.parse_args()
    rows = []
    for motion, travel in MOTIONS.items():
        for share in SHARES:
            ms = make_mover_shot(share, travel=travel, seed=args.seed)
            row = {"motion": motion, "share": share, "movers": int(ms.moving.sum()), "tracks": len(ms.moving),
                   "clean": run(without(ms.shot, ms.moving), ms.moving, reject_movers=False),
                   "clean_rejection": run(without(ms.shot, ms.moving), ms.moving),
                   "neither": run(ms.shot, ms.moving, reject_movers=False),
                   "rejection": run(ms.shot, ms.moving),
                   "masked": run(ms.shot, ms.moving, masks=ms.masks)}
            rows.append(row)
            print(motion, share, {k: row[k]["rot_err_deg"] for k in ("clean", "neither", "rejection", "masked")},
                  flush=True)
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {"command": command_line(), "hardware": hardware("cpu"), "results": rows})
    cell = lambda r: (f"{r['rot_err_deg']:.3f} / {r['focal_err_pct']:.2f} / {r['center_err']:.4f} "  # noqa: E731
                      f"{r['verdict']}")
    header = ["mover motion", "share", "no mover", "static rejected, no mover", "mover, no mask, no rejection",
              "mover, rejection (default)", "rejected movers / static", "mover masked", "time s (rejection)"]
    table = [[r["motion"], f"{r['share']:.0%} ({r['movers']}/{r['tracks']})", cell(r["clean"]),
              str(r["clean_rejection"]["rejected_static"]), cell(r["neither"]), cell(r["rejection"]),
              f"{r['rejection']['rejected_movers']} / {r['rejection']['rejected_static']}", cell(r["masked"]),
              f"{r['rejection']['seconds']:.2f}"] for r in rows]
    hw = hardware("cpu")
    text = (f"# Camera solve with a moving object (CPU)\n\n`{command_line()}` on {hw.get('cpu', '')} "
            f"({hw.get('cpu_cores', '')} cores); 24-frame dolly, 500 tracks, 0.5 px noise, 10 % outlier observations, "
            "shared lens, `--refine ba`. Cells: max rotation error deg / focal error % / max camera-centre error "
            "(fraction of the path), then the solve's verdict.\n\n" + md_table(header, table) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
