"""Shots for the farm tests: small image folders, a shot manifest, a tiny checkpoint, a Blender stand-in."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

LAUNCHER = Path(__file__).with_name("blender_launcher.py")


def write_shot(folder: Path, n: int, size: tuple[int, int] = (56, 42), seed: int = 0) -> Path:
    """``n`` small random PNG frames in ``folder`` (created)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"f_{i:03d}.png")
    return folder


def blender_stand_in(folder: Path) -> Path:
    """An executable ``blender`` in ``folder`` that runs our command through bpy in this Python."""
    exe = folder / "blender"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{LAUNCHER}" "$@"\n')
    exe.chmod(0o755)
    return exe
