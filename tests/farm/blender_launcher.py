"""Stand-in for the ``blender`` executable in the farm tests: ``blender_launcher.py -b -c vggt ARGS...``.

These machines have Blender only as the ``bpy`` module, which cannot dispatch ``-c``; this runs the
command the extension registers (``vggt_blender.command_line.cli.main``) through bpy, with the same exit code.
The job templates themselves stay the ones users run with real Blender.
"""
from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if argv[:3] != ["-b", "-c", "vggt"]:
        print(f"blender_launcher: expected '-b -c vggt ...', got {argv[:3]}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import bpy  # noqa: F401  (Blender first, as in a real Blender process)
    import torch

    torch.set_num_threads(1)  # small test shots; the test machines have two cores
    from vggt_blender.command_line import cli

    return cli.main(argv[3:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
