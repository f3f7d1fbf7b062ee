"""VGGT for Blender: photos or a video plate -> cameras, point cloud and depth proxies.

Enabling the extension must work before PyTorch is installed: nothing imported here imports torch
(the worker imports it on the first run). ``register()``/``unregister()`` may run any number of
times in one session.
"""
from __future__ import annotations

import bpy

from . import cli, dependencies, operators, panel, prefs, props, worker

_classes = (*prefs.classes, *props.classes, *operators.classes, *panel.classes)
_cli_handle = None


@bpy.app.handlers.persistent
def _reset_runtime_state(_dummy: object = None) -> None:
    """A loaded file may have been saved mid-run: its 'running' flags are stale."""
    for scene in bpy.data.scenes:
        state = getattr(scene, "vggt", None)
        if state is not None and state.is_running and not worker.is_busy():
            state.is_running, state.progress, state.stage = False, 0.0, ""


def register() -> None:
    global _cli_handle
    dependencies.add_to_sys_path()
    for cls in _classes:
        bpy.utils.register_class(cls)
    props.register()
    if _reset_runtime_state not in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.append(_reset_runtime_state)
    _cli_handle = bpy.utils.register_cli_command("vggt", cli.main)


def unregister() -> None:
    global _cli_handle
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    if _reset_runtime_state in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_reset_runtime_state)
    if not worker.cancel_current():
        worker.unload_engine()  # disabling the extension frees the model's memory
    props.unregister()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
    dependencies.remove_from_sys_path()
