"""Thin operators: run / cancel / re-import from cache / unload the model / install dependencies.

GUI: Run starts the worker thread and a modal operator polls its queue on a 0.1 s timer.
Background (``blender -b``, the bpy module): timers never fire there, so the same operator runs
synchronously in ``execute()``.
"""
from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty

from vggt_core.errors import VGGTError

from . import dependencies, runs, worker
from .convert import ImportSettings
from .props import import_settings

def _redraw(context: bpy.types.Context, kinds: tuple[str, ...] = ("VIEW_3D",)) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in kinds:
                area.tag_redraw()


def _interactive(context: bpy.types.Context) -> bool:
    return not bpy.app.background and context.window is not None


class VGGT_OT_run(bpy.types.Operator):
    """Reconstruct cameras, depth and points from the chosen frames with VGGT and import them"""

    bl_idname = "vggt.run"
    bl_label = "Run VGGT"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if worker.is_busy():
            cls.poll_message_set("A VGGT run is in progress")
            return False
        return context.scene is not None

    def _start(self, context: bpy.types.Context) -> runs.RunPlan | None:
        """Plan the run from the panel's settings; None (after reporting why) when it cannot start."""
        if worker.is_busy():
            self.report({"ERROR"}, "A VGGT run is already in progress")
            return None
        props = context.scene.vggt
        try:
            plan = runs.plan_from_scene(context)
        except VGGTError as err:
            props.last_message = worker.one_line(err)
            self.report({"ERROR"}, props.last_message)
            return None
        props.is_running, props.progress, props.stage, props.last_message = True, 0.0, "Starting", ""
        return plan

    def _finish(self, context: bpy.types.Context, plan: runs.RunPlan, final: tuple) -> set[str]:
        props = context.scene.vggt
        level, message = runs.import_result(context.scene, final, plan.import_settings, plan.name)
        props.is_running, props.progress, props.stage, props.last_message = False, 0.0, "", message
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        plan = self._start(context)
        if plan is None:
            return {"CANCELLED"}
        props = context.scene.vggt
        last_stage = [""]

        def on_progress(stage: str, fraction: float) -> None:
            props.stage, props.progress = runs.describe_stage(stage, fraction)
            if stage != last_stage[0]:  # one console line per stage in batch runs
                last_stage[0] = stage
                print(f"vggt: {props.stage}")

        return self._finish(context, plan, worker.run_sync(plan.job, on_progress))

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not _interactive(context):
            return self.execute(context)
        plan = self._start(context)
        if plan is None:
            return {"CANCELLED"}
        self._plan = plan
        self._worker = worker.start(plan.job)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        props = context.scene.vggt
        if event.type == "ESC" and event.value == "PRESS":
            self._worker.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        latest, final = self._worker.poll()
        if latest is not None:
            props.stage, props.progress = runs.describe_stage(*latest)
        if self._worker.cancel_event.is_set() and final is None:
            props.stage = "Cancelling..."
        _redraw(context)
        if final is None:
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        result = self._finish(context, self._plan, final)
        _redraw(context)
        return result

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the modal operator (e.g. a file is loaded): stop the worker, import nothing."""
        self._worker.cancel()
        context.window_manager.event_timer_remove(self._timer)
        context.scene.vggt.is_running = False


class VGGT_OT_cancel(bpy.types.Operator):
    """Stop the running VGGT reconstruction (nothing is imported)"""

    bl_idname = "vggt.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return worker.is_busy() and not worker.current().cancel_event.is_set()

    def execute(self, context: bpy.types.Context) -> set[str]:
        worker.cancel_current()
        return {"FINISHED"}


class VGGT_OT_reimport(bpy.types.Operator):
    """Rebuild the selected VGGT import from its cached results, without running the network again"""

    bl_idname = "vggt.reimport"
    bl_label = "Re-import from Cache"
    bl_options = {"REGISTER", "UNDO"}

    use_panel_settings: BoolProperty(
        name="Use Panel Settings", default=True,
        description="Use the panel's current import options (the footage and timing stay those of the original import)")
    replace: BoolProperty(name="Replace", default=True, description="Delete the old import after the new one is built")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if runs.find_vggt_collection(context) is None:
            cls.poll_message_set("Select a VGGT collection (or an object in one)")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        from vggt_core import cache

        old = runs.find_vggt_collection(context)
        cache_path = old.get("vggt_cache", "")
        if not cache_path:
            self.report({"ERROR"}, f"'{old.name}' was imported without a cache file: run VGGT again")
            return {"CANCELLED"}
        if not os.path.isfile(cache_path):
            self.report({"ERROR"}, f"Cache file not found: {cache_path}")
            return {"CANCELLED"}
        stored = ImportSettings.from_json(old["vggt_settings"])
        settings = import_settings(context.scene.vggt, stored.plate) if self.use_panel_settings else stored
        try:
            recon = cache.load(cache_path)
        except VGGTError as err:
            self.report({"ERROR"}, worker.one_line(err))
            return {"CANCELLED"}
        name = old.name
        saved = runs.set_aside(old) if self.replace else []  # free the names for the rebuild
        level, message = runs.import_result(context.scene, ("done", recon, cache_path), settings, name)
        if self.replace:
            if level == "INFO":
                runs.remove_import(old)
            else:
                runs.restore_names(saved)
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}


class VGGT_OT_unload_model(bpy.types.Operator):
    """Free the VGGT model and the memory it holds (it is loaded again on the next run)"""

    bl_idname = "vggt.unload_model"
    bl_label = "Unload Model"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not worker.is_busy()

    def execute(self, context: bpy.types.Context) -> set[str]:
        if worker.unload_engine():
            self.report({"INFO"}, "VGGT: model unloaded")
        else:
            self.report({"INFO"}, "VGGT: no model was loaded")
        return {"FINISHED"}


class VGGT_OT_install_dependencies(bpy.types.Operator):
    """Download and install PyTorch and the other Python packages VGGT needs into the extension's folder"""

    bl_idname = "vggt.install_dependencies"
    bl_label = "Install Dependencies"

    build: EnumProperty(name="Build", items=[
        ("cpu", "CPU", "PyTorch for the CPU only (smaller download)"),
        ("gpu", "GPU", "PyTorch with GPU support (CUDA on Linux/Windows, MPS on macOS; several GB)"),
    ], default="gpu")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not dependencies.state().running

    def _begin(self) -> bool:
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Online access is disabled: allow it in Preferences > System > Network to download PyTorch")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not self._begin():
            return {"CANCELLED"}
        dependencies.start_install(self.build, wait=True)
        state = dependencies.state()
        self.report({"ERROR" if state.failed else "INFO"}, state.message)
        return {"CANCELLED"} if state.failed else {"FINISHED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if not _interactive(context):
            return self.execute(context)
        if not self._begin():
            return {"CANCELLED"}
        dependencies.start_install(self.build)
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        _redraw(context, ("PREFERENCES", "VIEW_3D"))
        state = dependencies.state()
        if state.running:
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        self.report({"ERROR" if state.failed else "INFO"}, state.message)
        return {"CANCELLED"} if state.failed else {"FINISHED"}


classes = (VGGT_OT_run, VGGT_OT_cancel, VGGT_OT_reimport, VGGT_OT_unload_model, VGGT_OT_install_dependencies)
