"""VGGT for Blender: photos or a video plate -> cameras, point cloud and depth proxies.

Enabling the extension must work before PyTorch is installed: nothing imported here imports torch
(the worker imports it on the first run). ``register()``/``unregister()`` may run any number of
times in one session.
"""
from __future__ import annotations

import bpy

from . import dependencies
from .command_line import cli
from .operators import cache_ops, export_ops, mask_ops, qc_ops, run_ops, setup_ops
from .runs import gui_run, worker
from .ui import panel, prefs, props

_classes = (*prefs.classes, *props.classes, *run_ops.classes, *cache_ops.classes, *setup_ops.classes,
            *export_ops.classes, *qc_ops.classes, *mask_ops.classes, *panel.classes)
_cli_handle = None


def register() -> None:
    global _cli_handle
    dependencies.add_to_sys_path()
    for cls in _classes:
        bpy.utils.register_class(cls)
    props.register()
    cache_ops.register_handlers()
    _cli_handle = bpy.utils.register_cli_command("vggt", cli.main)


def unregister() -> None:
    global _cli_handle
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    cache_ops.unregister_handlers()
    gui_run.abort()
    worker.cancel_current()
    worker.unload_when_idle()  # the model's memory is freed now, or as soon as a cancelled run ends
    props.unregister()
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
    dependencies.remove_from_sys_path()
