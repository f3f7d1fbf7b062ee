"""``vggt-reconstruct INPUT... --out DIR``: images or a video -> cameras, depth, points, PLY and COLMAP files.

Writes into DIR: ``reconstruction.npz`` (the cache format, loadable with ``vggt_core.run.cache.load`` and by the
Blender add-on), ``points.ply``, a COLMAP dataset (``images/`` + ``sparse/0/{cameras,images,points3D}.{bin,txt}``),
``colmap.log`` (COLMAP's own log, when it ran: only its warnings reach the terminal) and ``summary.json``
(written last). ``--batch SHOTS.csv`` runs every shot of a manifest into DIR/NAME/
(``vggt_core.run.batch``). Exit codes: 0 success; 1 failure (one line "error: ..." on stderr; in a batch, any
shot failed); 2 usage error (argparse); 130 on Ctrl-C. The last stdout line is a JSON record (status,
outputs, timings). Progress goes to stderr: tqdm bars on a terminal, plain lines otherwise (``ProgressLog``).

``check_output_dir`` and ``ProgressLog`` are shared with the Blender command (``blender -b -c vggt``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from . import batch, cli_options
from ..errors import InputError, VGGTError, WeightsError

EXPORTS = ("ply", "colmap")
COLMAP_LOG = "colmap.log"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vggt-reconstruct",
        description="Reconstruct cameras, depth and a point cloud from photos or a video with VGGT.",
        epilog="Exit codes: 0 success; 1 failure (one line 'error: ...' on stderr; with --batch: any shot "
        "failed); 2 usage error (unknown or missing options); 130 interrupted. The last line on stdout is "
        "a JSON record: status, error, out, files, frames, timings_s (with --batch: shots).",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="an image folder, a video file, or image files")
    p.add_argument("--batch", metavar="SHOTS.csv", help="instead of INPUT: every shot of a shot manifest into "
                   "OUT/NAME/; shots with OUT/NAME/summary.json are skipped (see vggt_core/run/batch.py)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created; must be writable)")
    cli_options.add_arguments(p, max_points=1_000_000)  # frames, model, points, cache, long shots, solve
    p.add_argument("--token", default=None, help="Hugging Face token for gated weights")
    p.add_argument("--export", default="ply,colmap", help="comma-separated: ply, colmap (default both; '' none)")
    lens = p.add_argument_group("lens package")
    lens.add_argument("--export-lens", type=Path, metavar="DIR", help="lens.json and Nuke STMap EXRs (undistort, "
                      "redistort) from the solved distortion (identity without one), in DIR (relative: under "
                      "--out, so each shot of a --batch has its own; a --batch refuses one outside OUT/NAME); "
                      "the lens goes into summary.json too")
    lens.add_argument("--undistort-plate", action="store_true", help="with --export-lens: also the undistorted "
                      "plate, DIR/undistorted/undistorted.NNNN.png|exr on the plate frame numbers")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.inputs) == bool(args.batch):
        parser.error("give INPUT... or --batch SHOTS.csv")
    started = time.monotonic()
    try:
        if args.batch:
            rows = batch.run_batch(parser, args, run)
            print(batch.format_table(rows), file=sys.stderr, flush=True)
            failed = any(r["status"] == "failed" for r in rows)
            batch.print_result(batch.result("failed" if failed else "ok", started, out=args.out, shots=rows))
            return int(failed)
        summary = run(args)
    except VGGTError as err:
        print(f"error: {err}", file=sys.stderr)
        batch.print_result(batch.result("failed", started, error=str(err)))
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    batch.print_result(batch.result("ok", started, summary, out=args.out, solve=summary.get("solve")))
    return 0


def run(args: argparse.Namespace, engines: dict | None = None) -> dict:
    """Do the work of ``main``; returns the summary written to ``summary.json``.

    engines: engines by (source, device, dtype, token), reused across calls (a batch loads the model once).
    """
    from . import cache
    from ..plate.frame_numbers import plate_frame_numbers
    from ..plate.frames import FrameSelection, list_frames
    from ..solve.colmap_output import colmap_log
    from .pipeline import ReconstructSettings, cache_path, reconstruct_frames

    exports = [e.strip() for e in args.export.split(",") if e.strip()]
    unknown = sorted(set(exports) - set(EXPORTS))
    if unknown:
        raise VGGTError(f"unknown export {unknown[0]!r} (choose from {', '.join(EXPORTS)})")
    check_output_dir(args.out, "--out")
    if args.undistort_plate and args.export_lens is None:
        raise InputError("--undistort-plate needs --export-lens DIR")
    if args.export_lens is not None:
        args.export_lens = args.out / args.export_lens  # an absolute DIR stays as it is
        check_output_dir(args.export_lens, "--export-lens")
    (args.out / "summary.json").unlink(missing_ok=True)  # summary.json marks a finished run: written last
    (args.out / COLMAP_LOG).unlink(missing_ok=True)  # this run's, or none (a cached solve runs no COLMAP)
    if args.weights is not None and not args.weights.is_file():
        raise WeightsError(f"weights file not found: {args.weights}")
    settings = ReconstructSettings(
        selection=FrameSelection(args.stride, args.start, args.end, args.max_frames, args.fps),
        **cli_options.settings_fields(args),
    )
    inputs = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    infos = list_frames(inputs, settings.selection)  # input problems surface before any weights load
    # the numbers every export and the solve report give the frames: worked out once, here
    settings = replace(settings, frame_numbers=plate_frame_numbers(infos, args.frame_start).tolist())
    cache_dir = None if args.no_cache else (args.cache_dir or args.out / "cache")

    from ..network.engine import Engine, pick_device
    from ..network.weights import resolve_source

    pick_device(args.device)  # an unusable --device is a one-line error before anything loads
    source = resolve_source(str(args.weights.resolve()) if args.weights is not None else args.model)
    key = (source, args.device, args.dtype, args.token)
    engine = (engines or {}).get(key) or Engine(source=source, device=args.device, dtype=args.dtype, token=args.token)
    if engines is not None:
        engines[key] = engine
    with colmap_log(args.out / COLMAP_LOG), ProgressLog("vggt-reconstruct") as progress:
        recon = reconstruct_frames(infos, settings, engine, progress=progress, cache_dir=cache_dir)
    target = args.out / "reconstruction.npz"
    target.unlink(missing_ok=True)
    cached = None if cache_dir is None else cache_path(cache_dir, infos, engine, settings)
    if cached is None or not cached.is_file() or cache.read_meta(cached).get("base"):
        cache.save(recon, target)  # not cached, or cached as what the solve changed: the deliverable stands alone
    else:
        try:
            os.link(cached, target)  # same data, no second copy on disk
        except OSError:
            shutil.copyfile(cached, target)
    with colmap_log(args.out / COLMAP_LOG):  # the COLMAP export undistorts with COLMAP
        return _export(recon, args, exports, settings)


def _export(recon, args: argparse.Namespace, exports: list[str], settings) -> dict:
    from ..deliver.colmap import write_colmap_dataset
    from ..deliver.ply import write_ply
    from ..deliver.points import select_points
    from ..plate.frame_numbers import interpolated_frames
    from ..solve.graph import write_error_graph
    from ..solve.report import summary_line

    points = select_points(
        recon, source=args.point_source, conf_percentile=args.conf_percentile, max_points=args.max_points or None
    )
    numbers = list(settings.frame_numbers)
    written = ["reconstruction.npz"]
    if "ply" in exports:
        write_ply(args.out / "points.ply", points)
        written.append("points.ply")
    if "colmap" in exports:
        with ProgressLog("vggt-reconstruct") as progress:
            write_colmap_dataset(args.out, recon, points, lambda f: progress("colmap images", f), numbers)
        written += ["images", "sparse/0"]
    lens = None
    if args.export_lens is not None:
        from ..deliver.lens_package import export_lens

        with ProgressLog("vggt-reconstruct") as progress:
            lens, files = export_lens(args.export_lens, recon, numbers, args.undistort_plate,
                                      lambda f: progress("undistorted plate", f))
        written += [os.path.relpath(p, args.out) if p.is_relative_to(args.out) else str(p) for p in files]
    if recon.solve is not None and write_error_graph(recon.solve, args.out / "solve_errors.png") is not None:
        written.append("solve_errors.png")
    if (args.out / COLMAP_LOG).is_file():
        written.append(COLMAP_LOG)
    summary = {
        "frames": len(recon.frames),
        "sources": sorted({f.source for f in recon.frames}),
        "frame_indices": [f.index for f in recon.frames],
        "frame_numbers": numbers,  # the plate's: every export's frame of each reconstructed frame
        "interpolated_frames": interpolated_frames(numbers),
        "original_sizes": [[f.width, f.height] for f in recon.frames],
        "model_size_hw": list(recon.model_size),
        "model_id": recon.model_id,
        "points": len(points),
        "timings_s": {k: round(v, 3) for k, v in recon.timings.items()},
        "settings": asdict(settings),
        "files": written + ["summary.json"],
        "solve": recon.solve,
        "lens": lens,
    }
    batch.write_summary(args.out / "summary.json", summary)
    if recon.solve is not None:
        print(f"camera solve: {summary_line(recon.solve)}", file=sys.stderr)
    print(f"{len(recon.frames)} frames, {len(points)} points -> {args.out}", file=sys.stderr)
    return summary


def check_output_dir(path: str | Path, option: str) -> Path:
    """Create folder ``path`` (with parents) and check that a file can be written in it, before any work.

    option: the command-line option that named it, for the message. Raises InputError (one line) when
    ``path`` is an existing file, lies under one, or cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option}: {path} is an existing file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise InputError(f"{option}: cannot write to {path} ({err.strerror or err}): choose another folder") from None
    return path


class ProgressLog:
    """``progress(stage, fraction)`` callback for command lines, writing to stderr.

    On a terminal: one updating tqdm bar per stage, ``LABEL:  42%|####      | 00:12<00:16, 3.50%/s`` (elapsed,
    time left, rate), 80 x 24 where the terminal does not say its size. Otherwise (farm logs, pipes): a
    line ``PREFIX: LABEL NN%`` when a stage starts, then again each time it has advanced 10 points, or at least 1
    point after ``interval`` seconds without a line, and at 100 %; each line flushed at once. ``label`` turns a
    stage key into text.
    """

    BAR = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}, {rate_fmt}"

    def __init__(self, prefix: str, label: Callable[[str], str] = str, interval: float = 30.0) -> None:
        self.prefix, self.label, self.interval = prefix, label, interval
        self.tty = sys.stderr.isatty()
        self.stage: str | None = None
        self.bar = None
        self.shown, self.last = 0, 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        pct = min(100, max(0, round(100 * fraction)))
        if stage != self.stage:
            self.close()
            self.stage = stage
            if self.tty:
                from tqdm import tqdm

                self.bar = tqdm(total=100, desc=self.label(stage), unit="%", bar_format=self.BAR, file=sys.stderr,
                                **_bar_size(sys.stderr))
            else:
                self._line(pct)
        if self.bar is not None:
            if pct > self.bar.n:
                self.bar.update(pct - self.bar.n)  # tqdm's own pacing and rate estimate
            elif pct < self.bar.n:  # a stage reported again from its start: show what is reported
                self.bar.n = pct
                self.bar.refresh()
        elif pct >= self.shown + 10 or (pct > self.shown and (pct == 100 or time.monotonic() - self.last >= self.interval)):
            self._line(pct)

    def _line(self, pct: int) -> None:
        self.shown, self.last = pct, time.monotonic()
        print(f"{self.prefix}: {self.label(self.stage)} {pct}%", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _bar_size(stream) -> dict:
    """tqdm's size arguments: the terminal's own, following resizes; or 80 x 24 where the terminal reports no
    size (a pseudo-terminal made without one, as ``docker run -t`` or ``script`` give), on which tqdm draws no
    bar at all (a bar's row is past the terminal's 0 rows)."""
    try:
        size = os.get_terminal_size(stream.fileno())
        known = size.columns > 0 and size.lines > 0
    except (AttributeError, OSError, ValueError):  # not a real terminal's file
        known = False
    return {"dynamic_ncols": True} if known else {"ncols": 80, "nrows": 24}
