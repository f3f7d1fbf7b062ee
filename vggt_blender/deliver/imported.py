"""What an import holds, read back for its deliverables: its collection, cached reconstruction, plate frame
numbers and lens, and its animated camera sampled over its frames."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

import bpy
import numpy as np

from ..builders.datablocks import cache_file_of

if TYPE_CHECKING:
    from vggt_core import Reconstruction, ShotLens


def animated_camera(root: bpy.types.Object) -> bpy.types.Object:
    """The animated (matchmove) camera under ``root``; ValueError when the import has none."""
    cam = next((o for o in root.children_recursive if o.type == "CAMERA" and "vggt_frame" not in o), None)
    if cam is None:
        raise ValueError("the import has no animated camera: re-import it with Animated Camera on")
    return cam


def camera_frames(cam: bpy.types.Object, scene: bpy.types.Scene) -> range:
    """The frames the camera is keyed over (its action's range), else the scene's frame range."""
    ad = cam.animation_data
    if ad is not None and ad.action is not None:
        lo, hi = ad.action.frame_range
        return range(int(round(lo)), int(round(hi)) + 1)
    return range(scene.frame_start, scene.frame_end + 1)


def sample_camera(scene: bpy.types.Scene, cam: bpy.types.Object,
                  frames: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """World matrices [F, 4, 4] and focal lengths [F] (mm) of ``cam`` at ``frames``; the current frame is restored."""
    current = scene.frame_current
    mats, lens = [], []
    try:
        for f in frames:
            scene.frame_set(f)
            mats.append(np.array(cam.matrix_world, dtype=np.float64))
            lens.append(cam.data.lens)
    finally:
        scene.frame_set(current)
    return np.array(mats), np.array(lens)


def collection_of(root: bpy.types.Object) -> bpy.types.Collection | None:
    return next((c for c in root.users_collection if "vggt_settings" in c), None)


def cached_reconstruction(col: bpy.types.Collection | None) -> "Reconstruction":
    from vggt_core.run import cache

    path = cache_file_of(col) if col is not None else ""
    if not path or not os.path.isfile(path):
        raise ValueError("the import's cache file is missing: run VGGT again with Cache Results on")
    return cache.load(path)


def frame_numbers_of(col: bpy.types.Collection | None, recon: "Reconstruction") -> list[int]:
    """The plate frame numbers the import keyed each of ``recon``'s frames on (``vggt_frame_numbers``); the
    plate's own (``vggt_core.plate.frame_numbers``) for an import that has none or other frames."""
    from vggt_core.plate import plate_frame_numbers

    numbers = list(col["vggt_frame_numbers"]) if col is not None and "vggt_frame_numbers" in col else []
    return [int(n) for n in numbers] if len(numbers) == recon.num_frames else plate_frame_numbers(recon.frames).tolist()


def lens_of(root: bpy.types.Object, recon: "Reconstruction | None" = None) -> "ShotLens":
    """The ``ShotLens`` of ``recon`` when given (the reconstruction being imported), else the one stored on
    the import (``vggt_lens``), else its cache's; on the import's frame numbers."""
    import json

    from vggt_core import ShotLens, shot_lens

    col = collection_of(root)
    if recon is None and col is not None and "vggt_lens" in col:
        return ShotLens.from_dict(json.loads(col["vggt_lens"]))
    recon = recon if recon is not None else cached_reconstruction(col)
    return shot_lens(recon, frame_numbers_of(col, recon))


def lens_or_none(root: bpy.types.Object) -> "ShotLens | None":
    """``lens_of(root)``, or None for an import from before lenses were stored whose cache is gone (its camera
    still exports, without a lens package)."""
    try:
        return lens_of(root)
    except ValueError:
        return None
