"""``blender -b -c vggt --manifest SHOTS.csv --shot-index N --out DIR``: one shot of a manifest, a farm task.

The manifest format and the batch runner live in ``vggt_core.run.batch``; this module adds the Blender
command's ``--manifest/--shot/--shot-index`` options and turns them into that shot's arguments.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from vggt_core.run import find_shot, keep_in_shot_folder, load_manifest
from vggt_core.run import check_output_dir
from vggt_core.run import JOB_OPTIONS, parse_onto, refuse
from vggt_core import InputError

# The Blender command's outputs, moved under OUT/NAME (a shot writes nowhere else).
_OUTPUTS = ("export_colmap", "export_lens", "render", "export_points", "qc_render", "redistort_scene",
            "export_camera")


def add_arguments(parser: argparse.ArgumentParser, sources: argparse._MutuallyExclusiveGroup) -> None:
    """``--manifest`` (an input source, beside --images/--video), ``--shot NAME`` and ``--shot-index N``."""
    sources.add_argument("--manifest", metavar="SHOTS.csv", help="run one shot of a shot manifest (--shot or "
                         "--shot-index); --out is then the output folder: the shot writes OUT/NAME/NAME.blend and "
                         "OUT/NAME/summary.json, and every other output goes under OUT/NAME/ too (relative paths "
                         "are taken from there; others are refused)")
    shot = parser.add_mutually_exclusive_group()
    shot.add_argument("--shot", metavar="NAME", help="with --manifest: the shot's name")
    shot.add_argument("--shot-index", type=int, metavar="N", help="with --manifest: the shot's 0-based row "
                      "(what farm templates pass)")


def apply_shot(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """Turn ``--manifest M --shot[-index] S --out DIR`` into that shot's arguments (in place); returns OUT/NAME.

    Sets --images or --video from the row's input, --out to OUT/NAME/NAME.blend, parses the row's frame
    range and options onto ``args`` (job-level options refused), then puts every output path under
    OUT/NAME (``keep_in_shot_folder``, the rule ``vggt-reconstruct --batch`` follows too). A relative
    --cache-dir goes under OUT/NAME as well. Raises InputError (one line) for a bad manifest, shot, option
    or path; nothing is written before all of them are checked, except OUT/NAME itself.
    """
    if (args.shot is None and args.shot_index is None) or args.out is None:
        raise InputError("--manifest needs --shot NAME or --shot-index N, and --out OUTPUT_FOLDER")
    shot = find_shot(load_manifest(args.manifest), name=args.shot, index=args.shot_index)
    folder = Path(args.out).resolve() / shot.name
    where = f"shot {shot.name}: options {' '.join(shot.args)!r}"
    refuse(shot.args, JOB_OPTIONS, where)
    source = "--images" if shot.input.is_dir() else "--video"
    args.images = args.video = None
    parse_onto(parser, [source, str(shot.input), *shot.argv()], args, where)
    args.manifest = None
    args.out = str(folder / f"{shot.name}.blend")
    keep_in_shot_folder(folder, args, _OUTPUTS)
    if args.cache_dir is not None and not Path(args.cache_dir).is_absolute():
        args.cache_dir = folder / args.cache_dir
    check_output_dir(folder, "--out")
    (folder / "summary.json").unlink(missing_ok=True)
    return folder

