"""Small synthetic media for the extension tests (tests/blender/test_{extension,operators,sources,blender_cli}.py),
and reading a datablock's F-curves on any Blender."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def textured_image(width: int, height: int, seed: int) -> np.ndarray:
    """A smooth, seed-dependent ``H x W x 3`` uint8 image (something for the model to look at)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    chans = [127.5 + 120 * np.sin(a * 9 * x + b * 7 * y + c) for a, b, c in rng.uniform(0.3, 1.5, (3, 3))]
    return np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)


def write_images(folder: Path, n: int, size: tuple[int, int] = (64, 48), ext: str = "png") -> Path:
    """``n`` images ``img_00.<ext>``... in ``folder`` (created); returns the folder."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(textured_image(*size, seed=i)).save(folder / f"img_{i:02d}.{ext}")
    return folder


def write_video(path: Path, levels: list[int], size: tuple[int, int] = (64, 48), rate: int = 24) -> Path:
    """An H.264 video whose frame i is flat grey ``levels[i]`` (PyAV must be installed)."""
    import av

    w, h = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for level in levels:
            img = np.full((h, w, 3), level, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def fcurves(block: Any) -> list:
    """The F-curves animating the datablock ``block`` (e.g. a camera object, a Mask): its action's (Blender < 4.4)
    or its slot's channel bag (layered actions, 4.4 on; ``Action.fcurves`` is gone in 5.0)."""
    anim = block.animation_data
    if anim is None or anim.action is None:
        return []
    action = anim.action
    if getattr(action, "layers", None):
        slot = anim.action_slot
        strips = action.layers[0].strips
        bag = strips[0].channelbag(slot) if slot is not None and len(strips) else None
        return list(bag.fcurves) if bag is not None else []
    return list(getattr(action, "fcurves", []))
