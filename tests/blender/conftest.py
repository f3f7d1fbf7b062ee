"""Fixtures shared by the Blender tests: an empty scene, and the extension run with the tiny model."""
from __future__ import annotations

import os

import pytest


@pytest.fixture()
def scene():
    """The scene of empty factory settings (no objects, default render settings); a test module that needs
    other settings overrides this fixture with one that takes it (``def scene(scene): ...``)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_model) -> str:
    """A tiny VGGT checkpoint file (the session's ``tiny_model``)."""
    from vggt_core.network.weights import save_checkpoint

    return str(save_checkpoint(tiny_model, tmp_path_factory.mktemp("w") / "tiny.safetensors"))


@pytest.fixture(scope="module")
def addon(ckpt):
    """The extension enabled with its preferences set to the tiny checkpoint on the CPU."""
    import addon_utils
    import bpy
    import torch

    from vggt_blender.runs import worker

    torch.set_num_threads(1)  # shared 2-core machine
    os.environ.pop("VGGT_WEIGHTS", None)
    addon_utils.enable("vggt_blender", default_set=True)
    prefs = bpy.context.preferences.addons["vggt_blender"].preferences
    prefs.model_source, prefs.local_checkpoint, prefs.device = "LOCAL", ckpt, "cpu"
    yield prefs
    worker.unload_engine()
    addon_utils.disable("vggt_blender", default_set=True)
