"""The solved lens lent to the artist's own Movie Clip of the plate, only when they ask for it
(``ImportSettings.lens_to_artist_clip``), and given back.

Before writing, the clip's tracking-camera values are kept on the clip itself, in ``clip[LENS_KEY]`` (JSON:
``{"import": <import id>, "before": {...}, "ours": {...}}``, "before" the artist's values, "ours" the ones the
import wrote). A failed import puts them back at once (``Ledger.on_rollback``); removing the import, or
re-importing it without the option, puts them back through ``give_back``. A re-import that lends the lens
again takes the record over and keeps the artist's "before", so removing the old import restores nothing.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import bpy

from .datablocks import Ledger, import_id, same_file
from .markers import apply_tracking_camera

if TYPE_CHECKING:
    from vggt_core import Reconstruction

LENS_KEY = "vggt_lent_lens"
# What ``apply_tracking_camera`` writes, in the order to write it back (the focal in mm follows the sensor).
_FIELDS = ("sensor_width", "pixel_aspect", "focal_length", "principal_point", "distortion_model", "k1", "k2", "k3")


def _read(cam: bpy.types.MovieTrackingCamera) -> dict[str, Any]:
    return {f: list(getattr(cam, f)) if f == "principal_point" else getattr(cam, f) for f in _FIELDS}


def _write(cam: bpy.types.MovieTrackingCamera, values: dict[str, Any]) -> None:
    for f in _FIELDS:
        setattr(cam, f, values[f])


def artist_clip(ours: bpy.types.MovieClip) -> bpy.types.MovieClip | None:
    """The artist's own clip (no import made it) of the file ``ours`` plays, the first loaded; None if none."""
    path = bpy.path.abspath(ours.filepath)
    return next((c for c in bpy.data.movieclips
                 if import_id(c) is None and c.filepath and same_file(c.filepath, path)), None)


def lend_lens(ledger: Ledger, clip: bpy.types.MovieClip, recon: "Reconstruction", sensor_width: float) -> None:
    """Write the solved lens onto ``clip``'s tracking camera (``markers.apply_tracking_camera``), keeping what
    was there so that a failure, removal or re-import without the option can put it back."""
    cam = clip.tracking.camera
    previous = clip.get(LENS_KEY)
    current = _read(cam)
    record = json.loads(previous) if isinstance(previous, str) else None

    def undo() -> None:
        _write(clip.tracking.camera, current)
        if previous is None:
            del clip[LENS_KEY]
        else:
            clip[LENS_KEY] = previous

    ledger.on_rollback(undo)
    apply_tracking_camera(clip, recon, sensor_width)
    before = record["before"] if record else current  # a re-import keeps the artist's values, not the last import's
    clip[LENS_KEY] = json.dumps({"import": ledger.import_id, "before": before, "ours": _read(cam)})


def give_back(key: str) -> None:
    """Put back the lens that import ``key`` lent, on each clip it lent one to. When the artist has changed the
    lens since, their values stay. The record goes either way."""
    for clip in bpy.data.movieclips:
        raw = clip.get(LENS_KEY)
        if not isinstance(raw, str):
            continue
        record = json.loads(raw)
        if record.get("import") != key:
            continue
        if _read(clip.tracking.camera) == record["ours"]:
            _write(clip.tracking.camera, record["before"])
        del clip[LENS_KEY]
