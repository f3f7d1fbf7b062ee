"""One reconstruction run, shared by the operators and the CLI: plan (main thread, reads bpy) ->
run (worker thread or synchronously, no bpy) -> import (main thread).

Nothing here imports torch; the worker does, on first use.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import bpy
import numpy as np

from vggt_core import DEFAULTS, FrameInfo, VGGTError, one_line

from .. import addon
from ..convert import ImportSettings, PlateSettings
from ..ui.props import import_settings, panel_masks
from . import sources, worker


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs, frozen on the main thread so the worker never reads bpy.

    job: what the worker runs. import_settings: what the importer builds afterwards.
    name: the new collection's name (None: derived from the source by the importer).
    replaces: ``session_uid`` of the import this run rebuilds (*Re-solve*), or None for a new import.
    """

    job: worker.Job
    import_settings: ImportSettings
    name: str | None = None
    replaces: int | None = None


def planned(job: worker.Job, settings: ImportSettings, name: str | None, scene_frame_start: int,
            replaces: int | None = None) -> RunPlan:
    """A RunPlan whose worker numbers the solve report on the frames the import of ``settings`` keys the camera on
    and, after the run, also writes the undistorted plate that import will show (``convert.undistorted``;
    ``scene_frame_start``: the scene's first frame), so that slow step runs off the main thread, with progress
    and Cancel."""
    return RunPlan(replace(job, import_as=(settings, scene_frame_start)), settings, name, replaces)


def undistorted_dir() -> str:
    """Where imports put undistorted plates: ``undistorted/`` in ``default_cache_dir()``."""
    return os.path.join(default_cache_dir(), "undistorted")


def default_cache_dir() -> str:
    """Where run results are cached: ``//vggt_cache`` next to a saved .blend, else the extension's
    user folder (or the system temp folder when not installed as an extension)."""
    if bpy.data.filepath:
        return bpy.path.abspath("//vggt_cache")
    try:
        return bpy.utils.extension_path_user(addon.ADDON_ID, path="cache", create=True)
    except ValueError:  # imported from the source tree, not as an extension
        return os.path.join(tempfile.gettempdir(), "vggt_cache")


def plan_from_scene(context: bpy.types.Context) -> RunPlan:
    """Freeze ``scene.vggt`` + the add-on preferences into a RunPlan. Raises VGGTError (one line)."""
    from vggt_core import list_frames
    from vggt_core import ReconstructSettings

    props = context.scene.vggt
    src = sources.resolve(context, props)
    name = None
    if props.source_type == "STRIP":
        name = f"VGGT {sources.active_strip(context).name}"
    elif props.source_type == "CLIP":
        name = f"VGGT {props.movie_clip.name}"
    masks, mask_fields = scene_masks(context.scene, props, lambda: list_frames(src.inputs, src.selection), src.plate)
    job = worker.Job(
        inputs=src.inputs,
        settings=ReconstructSettings(selection=src.selection, mode=props.mode, chunk_size=props.chunk_size,
                                     overlap=props.overlap, **solve_settings(props), **mask_fields),
        engine=addon.engine_spec(context),
        cache_dir=default_cache_dir() if addon.cache_results(context) else None,
        masks=masks,
    )
    return planned(job, import_settings(props, src.plate, undistorted_dir()), name, context.scene.frame_start)


def scene_masks(scene: bpy.types.Scene, props: Any, frames: Callable[[], Sequence[FrameInfo]],
                plate: PlateSettings | None) -> tuple[tuple | None, dict[str, Any]]:
    """The panel's masks, on the main thread before the run: ``(arrays or None, ReconstructSettings fields)``.

    The Blender Masks of the *Masks* list (``panel_masks``), united, are rasterised at plate resolution on each
    reconstructed frame's timeline frame (where the import keys the camera, so where the artist sees them over
    the plate); ``settings.mask`` names them and the arrays' digest, so a changed list or Mask changes the solve's
    cache key; a matte (``props.mask_path``) beside them is read here and united with them. A matte alone is
    left for the pipeline to read (it checks it before the model runs). ``frames``: the run's frames (``list_frames``), asked for only when there is a mask.
    Raises InputError (one line) for an empty row or a matte folder that does not match the plate.
    """
    from vggt_core.plate import digest, load_mattes

    fields: dict[str, Any] = {"mask": None, "mask_invert": props.mask_invert, "mask_blank": props.mask_blank,
                              "reject_movers": props.reject_movers}
    masks = panel_masks(props)
    if not masks and not props.mask_path:
        return None, fields
    infos = frames()
    if not masks:
        path = bpy.path.abspath(props.mask_path)
        # A wrong path or numbering fails here; the other frames are read before the model runs.
        load_mattes(path, infos[:1], props.mask_invert)
        return None, {**fields, "mask": path}
    from ..builders.mask_raster import rasterise_masks
    from ..convert.timeline import timeline_frames

    timeline = timeline_frames(infos, plate, scene.frame_start)
    arrays = rasterise_masks(masks, timeline.tolist(), (infos[0].width, infos[0].height))
    if props.mask_invert:
        arrays = [~m for m in arrays]
    names = ", ".join(repr(m.name) for m in masks)
    if props.mask_path:  # both: what either keeps out (a roto for the actor and a keyer's matte, say)
        path = bpy.path.abspath(props.mask_path)
        arrays = [a | b for a, b in zip(arrays, load_mattes(path, infos, props.mask_invert))]
        names += f" and matte {path!r}"
    return tuple(arrays), {**fields, "mask": f"<Blender masks {names}, sha256 {digest(arrays)}>"}


def solve_settings(props: Any) -> dict[str, Any]:
    """``ReconstructSettings`` camera-solve fields from the panel's ``scene.vggt``."""
    refine = "ba" if props.refine else "none"
    return {"lens": props.lens, "focal_mm": props.lens_focal_mm, "focal_px": None,
            "sensor_width_mm": props.lens_sensor_mm, "refine": refine,
            "track_frames": props.track_frames,
            "track_refine": props.track_refine if props.refine else DEFAULTS.track_refine,
            "motion": props.motion if props.refine else DEFAULTS.motion,
            "distortion": props.distortion if props.refine and props.lens != "per-frame" else "none"}


def import_result(scene: bpy.types.Scene | None, final: tuple, settings: ImportSettings,
                  name: str | None = None) -> tuple[str, str]:
    """Build a worker's final message into ``scene`` as collection ``name``; returns (report level,
    one-line message).

    Levels: "INFO" (imported), "WARNING" (cancelled), "ERROR" (failed; the scene is unchanged:
    the importer removes whatever it created when it fails). ``scene`` is only read for "done".
    """
    level, message, _ = import_final(scene, final, settings, name)
    return level, message


def import_plan(scene: bpy.types.Scene | None, final: tuple, plan: RunPlan) -> tuple[str, str]:
    """Build ``plan``'s final message into ``scene``: a new import, or the successor of the one it
    ``replaces`` (``rebuild_import``). Returns (report level, one-line message) as ``import_result``."""
    if plan.replaces is None:
        return import_result(scene, final, plan.import_settings, plan.name)
    old = next((c for c in bpy.data.collections if c.session_uid == plan.replaces), None)
    if old is None and final[0] == "done":
        return "WARNING", f"VGGT: '{plan.name}' was deleted during the run: nothing imported"
    if old is None:
        return import_result(scene, final, plan.import_settings, plan.name)  # the cancel or error line
    return rebuild_import(scene, old, final, plan.import_settings)


def rebuild_import(scene: bpy.types.Scene | None, old: bpy.types.Collection, final: tuple,
                   settings: ImportSettings, replace: bool = True) -> tuple[str, str]:
    """Import a worker's final message as ``old``'s successor (same name, same Scene Setup: its root goes where
    ``old``'s is, so the artist's objects still sit on the floor and line up with the cameras); with ``replace``,
    ``old`` goes once the new import is built (the artist's additions move to it) and stays untouched when it fails.

    Returns (report level, one-line message) as ``import_result``.
    """
    from ..builders import ownership
    from ..builders.scene import import_setup

    name, setup = old.name, import_setup(old)
    saved = ownership.set_aside(old) if replace else []  # free the names for the rebuild
    level, message, new = import_final(scene, final, settings, name, setup)
    if replace:
        if level == "INFO":
            ownership.remove_import(old, heir=new)
        else:
            ownership.restore_names(saved)
    return level, message


def import_final(scene: bpy.types.Scene | None, final: tuple, settings: ImportSettings, name: str | None = None,
                 setup: np.ndarray | None = None) -> tuple[str, str, bpy.types.Collection | None]:
    """``import_result`` plus the new collection (None unless the level is "INFO"); ``setup``: the Scene Setup
    [4, 4] to build under (``import_reconstruction``)."""
    kind = final[0]
    if kind == "cancelled":
        return "WARNING", "VGGT: cancelled", None
    if kind == "error":
        return "ERROR", final[1], None
    recon, cache_path = final[1], final[2]
    from ..builders.scene import import_reconstruction

    try:
        col = import_reconstruction(recon, settings, scene, name=name, cache_path=cache_path, setup=setup)
    except VGGTError as err:
        return "ERROR", one_line(err), None
    except Exception as err:  # importer bug: it has rolled back; keep Blender running
        import traceback

        traceback.print_exc()
        return "ERROR", f"Import failed ({type(err).__name__}): {one_line(err)}", None
    seconds = sum(v for k, v in recon.timings.items() if k in ("frames", "preprocess", "model", "assemble"))
    changed = col.get("vggt_scene_changes", "")
    scene_note = f"; scene: {changed}" if changed else ""
    solve_note = "".join(f"; {col[k]}" for k in ("vggt_solve_summary", "vggt_lens_warning") if k in col)
    return ("INFO", f"VGGT: imported {recon.num_frames} frames into '{col.name}' ({seconds:.1f} s){solve_note}"
            f"{scene_note}", col)


def find_vggt_collection(context: bpy.types.Context) -> bpy.types.Collection | None:
    """The VGGT import the user points at: the active collection, else one holding the active object
    (or a parent of such a collection); None when neither belongs to a VGGT import."""
    candidates = []
    layer = getattr(context.view_layer, "active_layer_collection", None)
    if layer is not None:
        candidates.append(layer.collection)
    obj = context.active_object
    if obj is not None:
        candidates.extend(obj.users_collection)
    for col in candidates:
        if "vggt_settings" in col:
            return col
        for parent in bpy.data.collections:
            if "vggt_settings" in parent and col in parent.children_recursive:
                return parent
    return None


# Stage -> (label, start, end) on the run's overall progress bar: rough shares of the run time.
_STAGES = {
    "Loading model": ("Loading model", 0.0, 0.05),
    "frames": ("Reading frames", 0.05, 0.15),
    "preprocess": ("Preprocessing", 0.15, 0.2),
    "aggregator": ("Running the network", 0.2, 0.8),
    "camera": ("Predicting cameras", 0.8, 0.85),
    "depth": ("Predicting depth", 0.85, 0.92),
    "points": ("Predicting points", 0.92, 0.97),
    "tracks": ("Tracking", 0.97, 1.0),
    "plate tracks": ("Refining tracks on the plate", 0.0, 1.0),  # after the network, before the solve
}


def describe_stage(stage: str, fraction: float) -> tuple[str, float]:
    """(label, overall fraction 0..1) for a pipeline/engine progress report ``(stage, fraction)``.

    Long shots report ``"chunk K/N: STAGE"`` (vggt_core.run.chunked): "Chunk 3/12: Running the network", with the
    bar spread over the N chunks.
    """
    chunk = re.fullmatch(r"chunk (\d+)/(\d+): (.*)", stage)
    if chunk:
        k, n = int(chunk[1]), int(chunk[2])
        label, inner = describe_stage(chunk[3], fraction)
        return f"Chunk {k}/{n}: {label}", (k - 1 + inner) / max(n, 1)
    label, lo, hi = _STAGES.get(stage, (stage.replace("_", " ").capitalize(), 0.0, 1.0))
    return label, lo + (hi - lo) * min(1.0, max(0.0, fraction))
