"""The add-on's id and what its preferences say, read by the runs and operators (main thread only). The
preferences themselves, and their drawing, are ``prefs``: this module stays below every operator and panel."""
from __future__ import annotations

import os
import bpy

from vggt_core import WeightsError
from vggt_core.network import is_local_source

from .runs import worker

ADDON_ID = __package__  # "vggt_blender" from the source tree, "bl_ext.<repo>.<id>" when installed
DEFAULT_MODEL = "facebook/VGGT-1B"


def get(context: bpy.types.Context | None = None) -> bpy.types.AddonPreferences | None:
    """The add-on's preferences, or None when the package was registered without the add-on system."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return None if addon is None else addon.preferences


def cache_results(context: bpy.types.Context | None = None) -> bool:
    """Whether runs store their results in the cache folder (the "Cache Results" preference)."""
    p = get(context)
    return True if p is None else p.cache_results


def engine_spec(context: bpy.types.Context | None = None) -> worker.EngineSpec:
    """The frozen engine choice from the preferences (main thread only).

    Priority: the ``VGGT_WEIGHTS`` environment variable, then the preferences' model source. Raises
    WeightsError when a local checkpoint is selected but missing.
    """
    p = get(context)
    token = None
    if os.environ.get("VGGT_WEIGHTS"):
        source = os.environ["VGGT_WEIGHTS"]
    elif p is None:
        source = DEFAULT_MODEL
    elif p.model_source == "LOCAL":
        source = bpy.path.abspath(p.local_checkpoint) if p.local_checkpoint else ""
        if not source:
            raise WeightsError("No local checkpoint chosen: set it in Preferences > Add-ons > VGGT")
    else:
        source = p.model_source
        token = p.hf_token or None
    if is_local_source(source) and not os.path.isfile(source):
        raise WeightsError(f"Checkpoint file not found: {source}")
    return worker.EngineSpec(
        source=source,
        device=p.device if p else "auto",
        dtype=p.precision if p else "auto",
        token=token,
        allow_online=bool(bpy.app.online_access),
    )
