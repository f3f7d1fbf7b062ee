"""A long rendered plate solved in chunks: stitching alone, the default solve over the stitched shot (tracks tied
across seams, ``vggt_core.stitch.seams``), and the same plate in one run, as CG slip in plate pixels.

The plate is ray-cast as ``bench_plates.py``'s (``tests/plate_pixels.py``: the room, grain, 1920x1080); each chunk
is given by the same engine stand-in with the worse head (``bench_plates.STAND_IN``), called on the chunk's frames
alone, its world normalised to the chunk's first camera as VGGT's is, its query frames the chunk's seam frames as
the product picks them (``stitch.seam_query_frames``). The chunks go through the product's own
``run.chunked.reconstruct_chunked`` (Sim(3) stitching, ``stitch_tracks``), then its plate refinement and solve with
the default settings (``bench_plates.DEFAULTS``). CG slip as in ``bench_plates.figures``.

    .venv/bin/python bench/bench_plates_chunked.py            # -> bench/results/plates_chunked_cpu.{json,md}
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench_plates import DEFAULTS, GRAIN, HD, STAND_IN, figures  # also puts the repo and tests/ on sys.path
from bench_common import RESULTS, command_line, cpu_model, md_table, total_ram_gb, write_json
from plate_pixels import scene_recon, shot_scene, write_plate

from vggt_core.plate import list_frames, plan_batch
from vggt_core.run import chunked
from vggt_core.solve import TRACK_FRAMES, TRACK_QUERIES, refine_tracks, solve
from vggt_core.stitch import plan_chunks, seam_query_frames


def first_camera_world(recon):
    """``recon`` re-expressed in its first camera's frame (the stand-in keeps the scene's axes; VGGT does not)."""
    e = recon.extrinsics.astype(np.float64)
    r0, t0 = e[0, :, :3], e[0, :, 3]
    out = np.empty_like(e)
    out[:, :, :3] = e[:, :, :3] @ r0.T
    out[:, :, 3] = e[:, :, 3] - out[:, :, :3] @ t0
    return replace(recon, extrinsics=out.astype(np.float32))


def subset(scene, positions):
    """The scene seen from the frames ``positions`` only."""
    pos = np.asarray(positions)
    return replace(scene, extrinsics=scene.extrinsics[pos], k=scene.k[pos] if scene.k.ndim == 3 else scene.k)


def run(shot: str, frames: int, chunk: int, overlap: int, seed: int, root: Path) -> list[dict]:
    scene = shot_scene(shot, frames, HD, seed=seed)
    folder = root / f"{shot}_{HD[0]}x{HD[1]}_{frames}f_grain{GRAIN:g}_png_seed{seed}"
    write_plate(scene, folder, GRAIN, seed)
    infos = list_frames(folder)
    records = plan_batch([HD] * frames, "crop")

    def stand_in(positions, plan, call_seed):
        # (the chunk's frames already lie in ``folder``: scene_recon renders nothing, and its frame paths are the
        # chunk's indices, unused once stitched: the shot's ``infos`` name the frames)
        picked = None if plan is None else seam_query_frames(plan, positions, TRACK_FRAMES)
        recon, _ = scene_recon(subset(scene, positions), folder, queries=TRACK_QUERIES, query_frames=TRACK_FRAMES,
                               grain=GRAIN, seed=call_seed, picked=picked, **STAND_IN)
        return first_camera_world(recon)

    rows = []
    plan = plan_chunks(frames, chunk, overlap)
    t0 = time.perf_counter()
    stitched = chunked.reconstruct_chunked(
        infos, records, plan, lambda pos, recs, prog, stop: stand_in(pos, plan, 1000 * seed + int(pos[0])))
    stitch_s = time.perf_counter() - t0
    single = replace(stand_in(np.arange(frames), None, 1000 * seed + 999), frames=list(infos))
    for label, recon in (("chunks: stitching alone", stitched), ("chunks: default solve", stitched),
                         ("one run: default solve", single)):
        t0 = time.perf_counter()
        if label.endswith("default solve"):
            refined = refine_tracks(recon)
            out = solve(refined, lens=DEFAULTS["lens"], refine=DEFAULTS["refine"], motion=DEFAULTS["motion"])
            rep = out.solve
        else:
            out, rep = recon, {}
        rows.append({"shot": shot, "frames": frames, "chunks": len(plan) if recon is stitched else 1,
                     "chunk": chunk, "overlap": overlap, "seed": seed, "run": label,
                     **figures(scene, out.extrinsics, out.intrinsics, 0.0), "verdict": rep.get("verdict"),
                     "rmse_px": rep.get("rmse_px"), "lens": rep.get("lens"), "motion": rep.get("motion"),
                     "seconds": round(time.perf_counter() - t0 + (stitch_s if recon is stitched else 0.0), 1)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shot", default="dolly")
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--overlap", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--plates", default=str(Path(tempfile.gettempdir()) / "vggt_bench_plates"))
    ap.add_argument("--out", default=str(RESULTS / "plates_chunked_cpu"))
    args = ap.parse_args()
    rows = [r for seed in args.seeds for r in run(args.shot, args.frames, args.chunk, args.overlap, seed,
                                                   Path(args.plates))]
    out = Path(args.out)
    hardware = f"{cpu_model()}, {total_ram_gb():.0f} GB RAM, shared with other work (times are upper bounds)"
    write_json(out.with_suffix(".json"), {"command": command_line(), "hardware": hardware, "rows": rows})
    table = md_table(["shot", "frames", "chunks", "seed", "run", "CG slip px (median / p95 / max)", "rot err deg",
                      "focal err %", "verdict", "RMSE px", "s"],
                     [[r["shot"], r["frames"], r["chunks"], r["seed"], r["run"],
                       " / ".join(f"{v:.3f}" for v in r["slip_px"]), f"{r['rot_err_deg']:.4f}",
                       f"{r['focal_err_pct']:.3f}", r["verdict"] or "-",
                       "-" if r["rmse_px"] is None else f"{r['rmse_px']:.3f}", r["seconds"]] for r in rows])
    out.with_suffix(".md").write_text(
        f"# A long rendered plate in chunks: stitching, the default solve, one run (CPU)\n\n"
        f"`{command_line()}` on {hardware}.\n\n"
        f"{__doc__.split(chr(10) + chr(10))[1]}\n\n"
        f"Chunks of {args.chunk} frames sharing {args.overlap}. No COLMAP row: see plates_cpu.md for COLMAP on the "
        f"40-frame plates.\n\n{table}\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
