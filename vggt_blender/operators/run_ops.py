"""Thin operators: run / cancel / re-import from cache / re-solve / unload the model / install dependencies.

GUI: Run (also Repeat Last) starts the worker thread and a modal operator polls its queue on a
0.1 s timer (``gui_run``). Background (``blender -b``, the bpy module): timers never fire there, so
the same operator runs synchronously in ``execute()``.
"""
from __future__ import annotations

import os
from dataclasses import replace

import bpy
from bpy.props import BoolProperty, EnumProperty

from vggt_core import VGGTError, one_line

from .. import addon, dependencies
from ..builders.datablocks import cache_file_of
from ..convert import ImportSettings
from ..runs import gui_run, runs, worker
from ..ui.props import begin_run, end_run, import_settings, run_state
from .threaded_op import ThreadedOperator


class RunMixin:
    """A run of the worker followed by an import: in the UI in the background thread, polled by a modal
    timer (``gui_run``); in background mode synchronously. Subclasses say what to run (``_make_plan``).
    (A mixin, since Blender cannot register a subclass of a registered operator.)"""

    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if worker.is_busy():
            cls.poll_message_set("A VGGT run is in progress")
            return False
        return context.scene is not None

    def _make_plan(self, context: bpy.types.Context) -> runs.RunPlan:
        raise NotImplementedError

    def _plan(self, context: bpy.types.Context) -> runs.RunPlan | None:
        """Plan the run; None (after reporting why) when it cannot start."""
        if worker.is_busy():
            self.report({"ERROR"}, "A VGGT run is already in progress")
            return None
        state = run_state(context)
        try:
            plan = self._make_plan(context)
        except VGGTError as err:
            state.last_message = one_line(err)
            self.report({"ERROR"}, state.last_message)
            return None
        begin_run(state, context.scene)
        return plan

    def execute(self, context: bpy.types.Context) -> set[str]:
        """Invoke, Repeat Last and scripts all land here. In the UI the model always runs in the
        background thread (``gui_run``); in background mode synchronously (timers never fire there)."""
        plan = self._plan(context)
        if plan is None:
            return {"CANCELLED"}
        if gui_run.interactive(context):
            self._run = gui_run.GuiRun(context, plan, self.report)
            context.window_manager.modal_handler_add(self)
            return {"RUNNING_MODAL"}
        state = run_state(context)
        last_stage = [""]

        def on_progress(stage: str, fraction: float) -> None:
            state.stage, state.progress = runs.describe_stage(stage, fraction)
            if stage != last_stage[0]:  # one console line per stage in batch runs
                last_stage[0] = stage
                print(f"vggt: {state.stage}")

        final = worker.run_sync(plan.job, on_progress)
        level, message = runs.import_plan(context.scene, final, plan)
        end_run(state, message)
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return self._run.on_event(context, event.type, event.value, event.mouse_x, event.mouse_y)

    def cancel(self, context: bpy.types.Context) -> None:
        self._run.cancel(context)


class VGGT_OT_run(RunMixin, bpy.types.Operator):
    """Reconstruct cameras, depth and points from the chosen frames with VGGT and import them"""

    bl_idname = "vggt.run"
    bl_label = "Run VGGT"

    def _make_plan(self, context: bpy.types.Context) -> runs.RunPlan:
        return runs.plan_from_scene(context)


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
    replace: BoolProperty(name="Replace", default=True,
                          description="Delete the old import after the new one is built (objects you added "
                                      "to it move to the new one)")

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if runs.find_vggt_collection(context) is None:
            cls.poll_message_set("Select a VGGT collection (or an object in one)")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        from vggt_core.run import cache

        old = runs.find_vggt_collection(context)
        cache_path = cache_file_of(old)
        if not cache_path:
            self.report({"ERROR"}, f"'{old.name}' was imported without a cache file: run VGGT again")
            return {"CANCELLED"}
        if not os.path.isfile(cache_path):
            self.report({"ERROR"}, f"Cache file not found: {cache_path}")
            return {"CANCELLED"}
        stored = ImportSettings.from_json(old["vggt_settings"])
        settings = (import_settings(context.scene.vggt, stored.plate, runs.undistorted_dir())
                    if self.use_panel_settings else stored)
        try:
            recon = cache.load(cache_path)
        except VGGTError as err:
            self.report({"ERROR"}, one_line(err))
            return {"CANCELLED"}
        level, message = runs.rebuild_import(context.scene, old, ("done", recon, cache_path), settings, self.replace)
        self.report({level}, message)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}


class VGGT_OT_resolve(RunMixin, bpy.types.Operator):
    """Solve the selected VGGT import's cameras again with the panel's Camera Solve settings, from its cached
    network output (the network does not run), and rebuild the import in its place"""

    bl_idname = "vggt.resolve"
    bl_label = "Re-solve"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if runs.find_vggt_collection(context) is None:
            cls.poll_message_set("Select a VGGT collection (or an object in one)")
            return False
        return super().poll(context)

    def _make_plan(self, context: bpy.types.Context) -> runs.RunPlan:
        return resolve_plan(context, runs.find_vggt_collection(context))


def resolve_plan(context: bpy.types.Context, col: bpy.types.Collection) -> runs.RunPlan:
    """A plan that solves import ``col`` again with the panel's camera-solve settings and masks (its *Masks*
    rasterised again, or its matte), from the network output cached next to its result (same frames and frame
    settings; never a network run), and rebuilds ``col`` with the panel's import options. Raises VGGTError (one
    line) when ``col`` has no readable cache file, or for the panel's masks as ``runs.scene_masks``."""
    from vggt_core.run import cache
    from vggt_core import ReconstructSettings
    from vggt_core import FrameInfo

    path = cache_file_of(col)
    if not path:
        raise VGGTError(f"'{col.name}' was imported without a cache file: run VGGT again")
    meta = cache.read_meta(path)
    props = context.scene.vggt
    try:
        settings = ReconstructSettings.from_dict({**meta["settings"], **runs.solve_settings(props)})
        frames = tuple(FrameInfo(**f) for f in meta["frames"])
    except (KeyError, TypeError):  # written by a version with other settings
        raise VGGTError(f"'{col.name}' was imported by another version of VGGT: run VGGT again") from None
    stored = ImportSettings.from_json(col["vggt_settings"])
    masks, mask_fields = runs.scene_masks(context.scene, props, lambda: frames, stored.plate)
    job = worker.Job(inputs=(), settings=replace(settings, **mask_fields), engine=addon.engine_spec(context),
                     cache_dir=os.path.dirname(path), frames=frames, network=False, masks=masks)
    return runs.planned(job, import_settings(props, stored.plate, runs.undistorted_dir()), col.name,
                        context.scene.frame_start, replaces=col.session_uid)


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


class VGGT_OT_install_dependencies(ThreadedOperator, bpy.types.Operator):
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

    def _start(self, context: bpy.types.Context, wait: bool) -> bool:
        if not bpy.app.online_access:
            self.report({"ERROR"}, "Online access is disabled: allow it in Preferences > System > Network to download PyTorch")
            return False
        dependencies.start_install(self.build, wait=wait)
        return True

    def _state(self) -> dependencies.InstallState:
        return dependencies.state()


classes = (VGGT_OT_run, VGGT_OT_cancel, VGGT_OT_reimport, VGGT_OT_resolve, VGGT_OT_unload_model, VGGT_OT_install_dependencies)
