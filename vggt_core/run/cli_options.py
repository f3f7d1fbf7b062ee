"""The options both command lines share (``vggt-reconstruct`` and ``blender -b -c vggt``), defined once.

A shot manifest's ``args`` column and the farm templates' option strings are parsed by whichever command
runs the shot, so every option a row may use means the same thing, with the same name, in both commands:
frame selection, preprocessing, the model, points, cache, long shots and the camera solve
(``solve_options``). Every default that is a ``ReconstructSettings`` field is read from ``DEFAULTS``: the
core, both command lines, manifest rows and the panel share one set.
To add a shared option, add it to one of the ``_add_*`` groups below.

Option strings (a manifest row's ``args``, the ``--options`` of the Blender command) are split by
:func:`split_options`, never by a shell, and parsed by :func:`parse_onto`, which refuses, in one line,
any option the string may not set (:data:`JOB_OPTIONS`, :data:`TASK_OPTIONS`) and any option unknown.
"""
from __future__ import annotations

import argparse
import copy
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..stitch import STRATEGIES
from . import solve_options as solve_args
from .pipeline import DEFAULTS

# Options that say which task runs where: never inside an option string or a manifest row.
TASK_OPTIONS = ("--out", "--batch", "--manifest", "--shot", "--shot-index", "--images", "--video", "--into",
                "--options")
# Options set once for a whole batch or farm job (one model load, one cache): never in a manifest row.
JOB_OPTIONS = TASK_OPTIONS + ("--cache-dir", "--no-cache", "--weights", "--model", "--token", "--device", "--dtype")

_TOKEN = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)'|([^\s'"]+))""")


def add_arguments(parser: argparse.ArgumentParser, *, max_points: int, sensor_width: bool = True) -> None:
    """Add every shared option to ``parser``.

    max_points: the command's default cap on points (0 = no cap). sensor_width: add ``--sensor-width``
    with the solve's options (False when the command has its own, with the same meaning in mm).
    """
    _add_frames(parser)
    _add_model(parser)
    _add_points(parser, max_points)
    _add_cache(parser)
    _add_chunks(parser)
    solve_args.add_arguments(parser, sensor_width=sensor_width)
    _add_masks(parser)


def _add_frames(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("frames")
    g.add_argument("--stride", type=int, default=1, help="use every N-th frame")
    g.add_argument("--start", type=int, default=0, help="first source frame (0-based)")
    g.add_argument("--end", type=int, default=None, help="source frame to stop before")
    g.add_argument("--max-frames", type=int, default=None, help="at most N frames, spread evenly")
    g.add_argument("--fps", type=float, default=None, help="videos: about N frames per second of video time "
                   "(applied before --stride and --max-frames)")
    g.add_argument("--frame-start", type=int, default=None, metavar="N", help="frame numbers (timeline, every "
                   "export, COLMAP names, summary.json): the plate's shifted so the first reconstructed frame is N "
                   "(default: a numbered image sequence's file numbers, a video's frames from 1)")
    g.add_argument("--mode", choices=("crop", "pad"), default=DEFAULTS.mode,
                   help=f"fit frames to the model (default {DEFAULTS.mode})")
    g.add_argument("--resolution", type=int, default=DEFAULTS.resolution,
                   help=f"model resolution, multiple of 14 (default {DEFAULTS.resolution})")


def _add_chunks(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("long shots")
    g.add_argument("--chunk-size", type=int, default=DEFAULTS.chunk_size, metavar="N",
                   help="frames per network run; longer shots run in overlapping chunks aligned into one world, "
                   "resuming from the chunk an interrupted run stopped in (default 0: automatic, from free GPU "
                   "memory or RAM)")
    g.add_argument("--overlap", type=int, default=DEFAULTS.overlap, metavar="M",
                   help="frames each chunk shares with the previous one (default 0: automatic, a third of the "
                   "chunk, 2-16)")
    g.add_argument("--chunk-strategy", choices=STRATEGIES, default=DEFAULTS.strategy,
                   help=f"how chunks are tied together (default {DEFAULTS.strategy}; see docs/matchmove.md)")


def _add_model(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model")
    source = g.add_mutually_exclusive_group()
    source.add_argument("--weights", type=Path, metavar="PATH", help="local checkpoint (.safetensors, .pt, .pth)")
    # "" = not given, so a farm template can always pass --model (its model setting may be empty)
    source.add_argument("--model", metavar="ID", help="Hugging Face repo id or checkpoint path "
                        "(default: $VGGT_WEIGHTS, else facebook/VGGT-1B)")
    # checked by engine.pick_device before any work (a one-line error naming what this machine has)
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps (default auto)")
    g.add_argument("--dtype", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                   help="compute precision (auto: bf16 on recent CUDA GPUs, fp32 on CPU)")


def _add_points(parser: argparse.ArgumentParser, max_points: int) -> None:
    g = parser.add_argument_group("points")
    g.add_argument("--point-source", "--source", dest="point_source", choices=("depth", "points"), default="depth",
                   help="points from the depth head (default) or the point head")
    g.add_argument("--conf-percentile", type=float, default=50.0, metavar="P",
                   help="drop the least confident P %% of pixels (default 50)")
    g.add_argument("--max-points", type=int, default=max_points, metavar="N",
                   help=f"cap on points, 0 = no cap (default {max_points})")


def _add_masks(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("masks (what moves)")
    g.add_argument("--mask", metavar="PATH", default=None,
                   help="matte folder (numbered like the plate) or movie of what moves: white or alpha = keep out of "
                   "the solve and the points (vggt_core.plate.masks)")
    g.add_argument("--mask-invert", action="store_true", default=DEFAULTS.mask_invert,
                   help="the matte's black (or transparent) is what moves")
    g.add_argument("--mask-blank", action="store_true", default=DEFAULTS.mask_blank,
                   help="also paint the masked pixels white in the network's input (default: the network sees them)")
    g.add_argument("--no-reject-movers", dest="reject_movers", action="store_false", default=DEFAULTS.reject_movers,
                   help="without --mask, keep tracks that do not fit a static scene (default: reject them)")


def _add_cache(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("cache")
    g.add_argument("--cache-dir", type=Path, default=None, metavar="DIR", help="reuse results across runs")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the result cache")


def split_options(text: str) -> list[str]:
    """Split an option string into arguments: whitespace separates, ``'...'`` and ``"..."`` group.

    Nothing else is special: a backslash is an ordinary character (Windows paths survive), and ``$``,
    backticks, ``;``, ``*``, ``#`` are plain text (no shell ever sees the string). Quoted and unquoted
    pieces that touch join (``--name="a b"``). Raises InputError for an unclosed quote.
    """
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos:].strip():
                raise InputError(f"unclosed quote in options {text!r}")
            break
        piece = next(g for g in m.groups() if g is not None)
        if out and not text[pos].isspace():  # touches the previous piece: the same argument
            out[-1] += piece
        else:
            out.append(piece)
        pos = m.end()
    return out


def refuse(tokens: Iterable[str], refused: Sequence[str], where: str) -> None:
    """InputError (one line) when ``tokens`` set any option of ``refused`` (``--out`` or ``--out=...``)."""
    for token in tokens:
        name = token.split("=", 1)[0]
        if name in refused:
            raise InputError(f"{where}: {name} cannot be set here (it belongs to the whole job or task)")


def parse_onto(parser: argparse.ArgumentParser, argv: list[str], namespace: argparse.Namespace, where: str) -> None:
    """Parse ``argv`` onto ``namespace`` (options not in ``argv`` keep their values) with ``parser``'s options.

    Abbreviations are refused (``--ou`` cannot sneak past :func:`refuse`), so are ``-h``/``--help``;
    any parse error raises InputError ``"{where}: MESSAGE"`` instead of printing usage and exiting.
    """
    def fail(message: str):
        raise InputError(f"{where}: {message}")

    if any(a in ("-h", "--help") for a in argv):
        fail("--help is not an option here")
    sub = copy.copy(parser)
    sub.allow_abbrev = False
    sub.error = fail
    sub.parse_args(argv, namespace=namespace)


def apply_options(parser: argparse.ArgumentParser, args: argparse.Namespace, strings: Iterable[str]) -> None:
    """Parse each option string of ``strings`` (``--options "..."``) onto ``args``, in order; InputError
    (one line) for an unclosed quote, a task option (:data:`TASK_OPTIONS`) or an unknown option."""
    for text in strings:
        tokens = split_options(text)
        refuse(tokens, TASK_OPTIONS, f"--options {text!r}")
        parse_onto(parser, tokens, args, f"--options {text!r}")


def settings_fields(args: Any) -> dict[str, Any]:
    """``ReconstructSettings`` keyword arguments from the shared options (not the frame selection)."""
    return {"mode": args.mode, "resolution": args.resolution, "chunk_size": args.chunk_size, "overlap": args.overlap,
            "strategy": args.chunk_strategy,
            **solve_args.settings_fields(args), "mask": str(Path(args.mask).resolve()) if args.mask else None,
            "mask_invert": args.mask_invert, "mask_blank": args.mask_blank, "reject_movers": args.reject_movers}
