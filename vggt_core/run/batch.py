"""Many shots, one command: shot manifests, the single-machine batch runner and farm-readable result lines.

The shot manifest is a CSV file (UTF-8, a header row, one row per shot; lines starting with ``#`` are
comments), read by ``vggt-reconstruct --batch MANIFEST`` and, one shot per task, by ``blender -b -c vggt
--manifest MANIFEST --shot-index N`` on a farm (``farm/openjd``, ``farm/flamenco``)::

    name,input,start,end,args
    sh010,plates/sh010.mov,0,120,
    sh020,plates/sh020/,,,--fps 4 --max-frames 60

* ``name``: the shot's output name (letters, digits, ``.``, ``_``, ``-``; unique): outputs go to OUT/NAME/.
* ``input``: an image folder or a video file; a relative path is relative to the manifest's folder, and so is a
  relative path the row's ``args`` give an input option (:data:`ROW_INPUTS`: ``--mask``).
* ``start``, ``end`` (optional): frame range, source-frame indices (0-based, end exclusive), as ``--start``/``--end``.
* ``args`` (optional): per-shot options, applied after the command's own options, so they win
  (``--fps 4 --max-frames 60``, ``--lens shared --refine ba``...). Split by ``cli_options.split_options``
  (whitespace separates, quotes group, backslashes are kept: ``C:\\plates\\sh010`` survives; no shell).
  The shared options (``vggt_core/run/cli_options.py``) mean the same in both commands, so one manifest
  serves both; job-level options (``--out``, ``--cache-dir``, the model, ``cli_options.JOB_OPTIONS``)
  are refused in a row, in one line. A shot's outputs stay in OUT/NAME (:func:`keep_in_shot_folder`, in both
  commands): a relative output path (``--export-lens lens``) is taken from there, one that leaves it is refused.

Shots are addressed by name (``--shot NAME``, for people) or by 0-based row index (``--shot-index N``,
0..N-1 for N rows: what farm templates pass), never one taken for the other.
A shot is done when OUT/NAME/summary.json exists: both commands remove it before they start a shot and
write it last. Every run ends with one JSON line on stdout (:func:`print_result`).
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .cli_options import JOB_OPTIONS, parse_onto, refuse, split_options
from ..errors import InputError, VGGTError, one_line

COLUMNS = ("name", "input", "start", "end", "args")
# A row's options that name an input file: a relative path is the manifest folder's, as ``input`` is (a
# farm worker's current folder is nobody's choice).
ROW_INPUTS = ("--mask",)
_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Shot:
    """One manifest row. input: absolute path; start/end: source-frame range (None = open)."""

    index: int
    name: str
    input: Path
    start: int | None = None
    end: int | None = None
    args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        """The shot's own options: its frame range, then its overrides."""
        rng = [(opt, str(v)) for opt, v in (("--start", self.start), ("--end", self.end)) if v is not None]
        return [a for pair in rng for a in pair] + list(self.args)


def load_manifest(path: str | Path) -> list[Shot]:
    """Read a shot manifest (format in the module docstring); raises InputError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise InputError(f"cannot read manifest {path} ({err.strerror or err})") from None
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise InputError(f"manifest {path} is empty: write a header row 'name,input,start,end,args', "
                         "then one row per shot")
    rows = csv.DictReader([line for _, line in numbered], skipinitialspace=True)
    header = [c.strip() for c in rows.fieldnames or []]
    rows.fieldnames = header
    unknown = sorted(set(header) - set(COLUMNS))
    if unknown or not {"name", "input"} <= set(header):
        raise InputError(f"manifest {path}: header must name 'name' and 'input' (optional: start, end, args), "
                         f"got {','.join(header)}")
    shots: list[Shot] = []
    for (lineno, _), row in zip(numbered[1:], rows):
        where = f"manifest {path} line {lineno}"
        name, inp = (row.get("name") or "").strip(), (row.get("input") or "").strip()
        if not _NAME.fullmatch(name) or name in (".", ".."):
            raise InputError(f"{where}: shot name {name!r} must be letters, digits, '.', '_' or '-'")
        if any(s.name == name for s in shots):
            raise InputError(f"{where}: shot name {name!r} is used twice")
        if not inp:
            raise InputError(f"{where}: shot {name} has no input")
        try:
            start, end = (int(v) if (v := (row.get(k) or "").strip()) else None for k in ("start", "end"))
            args = tuple(_inputs_from(path.parent, split_options(row.get("args") or "")))
        except (ValueError, InputError) as err:
            raise InputError(f"{where}: {err}") from None
        shots.append(Shot(len(shots), name, (path.parent / inp).resolve(), start, end, args))
    return shots


def _inputs_from(folder: Path, tokens: list[str]) -> list[str]:
    """``tokens`` with the value of each :data:`ROW_INPUTS` option (``--mask M`` or ``--mask=M``) taken from
    ``folder`` (absolute, resolved; an absolute value stays itself)."""
    out = list(tokens)
    for i, token in enumerate(out):
        name, eq, value = token.partition("=")
        if name not in ROW_INPUTS:
            continue
        if eq:
            out[i] = f"{name}={(folder / value).resolve()}"
        elif i + 1 < len(out):
            out[i + 1] = str((folder / out[i + 1]).resolve())
    return out


def keep_in_shot_folder(folder: str | Path, args: argparse.Namespace, dests: Iterable[str]) -> None:
    """Keep a shot's outputs in its folder OUT/NAME: the one rule of ``vggt-reconstruct --batch`` and of
    ``blender -b -c vggt --manifest``, whether an output option came from the row or from the command.

    dests: the argparse destinations of ``args``' output options (``export_lens``: ``--export-lens``); a value
    is a path or a list of paths, and unset ones are skipped. Each path becomes absolute (keeping its type, str
    or Path): a relative one is taken from ``folder``; one that resolves outside it (absolute elsewhere, ``..``,
    a link out) raises InputError, one line naming the option, before anything is written.
    """
    root = Path(folder).resolve()

    def inside(path: str | Path, option: str) -> str | Path:
        target = (root / path).resolve()  # an absolute path stays itself; ".." and links are followed
        if not target.is_relative_to(root):
            raise InputError(f"{option} {path}: a shot's outputs stay in {root}: give a path relative to it")
        return type(path)(target)

    for dest in dests:
        value, option = getattr(args, dest, None), "--" + dest.replace("_", "-")
        if isinstance(value, list):
            setattr(args, dest, [inside(p, option) for p in value])
        elif value:
            setattr(args, dest, inside(value, option))


def find_shot(shots: list[Shot], name: str | None = None, index: int | None = None) -> Shot:
    """The shot named ``name`` or the one at 0-based row ``index`` (give exactly one); InputError if none.

    A name is only ever matched as a name (shots named ``1``, ``2``, ``3`` are fine), an index only as a row.
    """
    if (name is None) == (index is None):
        raise InputError("give the shot as --shot NAME or --shot-index N (0-based row), not both")
    if index is not None:
        if not 0 <= index < len(shots):
            raise InputError(f"--shot-index {index}: the manifest has {len(shots)} shots (rows 0..{len(shots) - 1})")
        return shots[index]
    for shot in shots:
        if shot.name == name:
            return shot
    hint = f"; for row {name} give --shot-index {name}" if name.isdigit() and int(name) < len(shots) else ""
    raise InputError(f"no shot named {name!r} in the manifest ({len(shots)} shots{hint})")


def print_result(record: dict) -> None:
    """Print ``record`` as the run's final line: one JSON object on stdout, flushed (farm log parsers)."""
    print(json.dumps(record, default=str), flush=True)


def write_summary(path: str | Path, summary: dict) -> None:
    """Write ``summary.json`` (the shot's done marker, so written last)."""
    Path(path).write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")


def solve_error(summary: dict) -> float | None:
    """The camera solve's RMS reprojection error in pixels from a summary, if it has one.

    Reads ``summary["solve"]``: the camera solve's report (``vggt_core.solve.report``), whose ``rmse_px``
    is the RMS error over the inlier observations after bundle adjustment (absent without ``--refine ba``).
    """
    solve = summary.get("solve")
    value = solve.get("rmse_px") if isinstance(solve, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def solve_verdict(summary: dict) -> str | None:
    """The camera solve's verdict (``good``, ``check``, ``failed`` or ``preview``, ``vggt_core.solve.verdict``) from a
    summary's ``summary["solve"]["verdict"]``, or None when the shot has no solve report."""
    solve = summary.get("solve")
    value = solve.get("verdict") if isinstance(solve, dict) else None
    return value if isinstance(value, str) else None


# --- vggt-reconstruct --batch MANIFEST --out DIR ------------------------------------------------------

OUTPUTS = ("export_lens",)  # vggt-reconstruct's output options besides --out (keep_in_shot_folder)


def run_batch(
    parser: argparse.ArgumentParser, args: argparse.Namespace, run: Callable[[argparse.Namespace, dict], dict]
) -> list[dict]:
    """Run every shot of ``args.batch`` into ``args.out``/NAME with ``run(shot_args, engines)``.

    Shots whose summary.json exists are skipped (resume). A shot that fails is reported with its
    one-line reason and the next one runs. ``engines`` is shared, so the model loads once. Returns
    one row per shot: name, status (done, skipped, failed), frames, time_s, solve_error_px, verdict (the
    solve's, ``solve_verdict``), out, error.
    """
    shots = load_manifest(args.batch)
    engines: dict = {}
    results = []
    for shot in shots:
        out = Path(args.out) / shot.name
        row = {"name": shot.name, "status": "skipped", "frames": None, "time_s": None, "solve_error_px": None,
               "verdict": None, "out": str(out), "error": None}
        done = out / "summary.json"
        print(f"vggt-reconstruct: shot {shot.index + 1}/{len(shots)} {shot.name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            if done.is_file():
                summary = json.loads(done.read_text(encoding="utf-8"))
            else:
                shot_args = copy.copy(args)
                shot_args.batch = None
                where = f"shot {shot.name}: options {' '.join(shot.args)!r}"
                refuse(shot.args, JOB_OPTIONS, where)
                parse_onto(parser, [str(shot.input), "--out", str(out), *shot.argv()], shot_args, where)
                keep_in_shot_folder(out, shot_args, OUTPUTS)
                summary = run(shot_args, engines)
                row["status"], row["time_s"] = "done", round(time.monotonic() - started, 3)
            row["frames"], row["solve_error_px"] = summary.get("frames"), solve_error(summary)
            row["verdict"] = solve_verdict(summary)
        except VGGTError as err:
            row["status"], row["error"] = "failed", str(err)
        except (OSError, ValueError, RuntimeError) as err:  # unexpected, but only this shot's
            row["status"], row["error"] = "failed", f"{type(err).__name__}: {one_line(err)}"
        if row["error"]:
            row["time_s"] = round(time.monotonic() - started, 3)
            print(f"vggt-reconstruct: shot {shot.name} failed: {row['error']}", file=sys.stderr, flush=True)
        results.append(row)
    return results


def format_table(rows: list[dict]) -> str:
    """The per-shot table printed at the end of a batch: shot, status, frames, time, solve error, the solve's
    verdict, reason."""
    head = ("shot", "status", "frames", "time_s", "solve_px", "verdict", "error")
    cells = [head] + [(r["name"], r["status"], _cell(r["frames"]), _cell(r["time_s"], "{:.1f}"),
                       _cell(r["solve_error_px"], "{:.3f}"), _cell(r.get("verdict")), r["error"] or "")
                      for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head) - 1)]
    return "\n".join(("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1]).rstrip() for row in cells)


def _cell(value, fmt: str = "{}") -> str:
    return "" if value is None else fmt.format(value)


def result(status: str, started: float, summary: dict | None = None, out: str | Path | None = None,
           error: str | None = None, **extra) -> dict:
    """The record of a run's final line: status ("ok" or "failed"), error (one line or None), the output
    folder and files (absolute; ``summary["files"]`` are relative to ``out``), frames, and timings in
    seconds (the summary's stages plus ``total``, wall time since ``started``, a ``time.monotonic()``)."""
    summary = summary or {}
    files = [str(Path(out, f).resolve()) for f in summary.get("files", [])] if out is not None else []
    timings = {**summary.get("timings_s", {}), "total": round(time.monotonic() - started, 3)}
    return {"status": status, "error": error, "out": None if out is None else str(Path(out).resolve()),
            "files": files, "frames": summary.get("frames"), "timings_s": timings, **extra}
