"""A run started from the UI: the worker thread, its 0.1 s timer and the modal operator's decisions.

``VGGT_OT_run.modal`` only forwards events here, so every branch (progress tick, Esc over the 3D
View or elsewhere, finishing in the scene the run started in or in none, Blender cancelling the
operator, the extension being disabled) runs in headless tests, where bpy has no event loop.
"""
from __future__ import annotations

from typing import Callable

import bpy

from ..ui.props import end_run, run_state
from . import runs, worker

Report = Callable[[set, str], None]  # Operator.report

_active: "GuiRun | None" = None


def active() -> "GuiRun | None":
    """The run in progress in the UI, or None."""
    return _active


def interactive(context: bpy.types.Context) -> bool:
    """True in a GUI session with a window: long work must run in a thread, never on the UI thread."""
    return not bpy.app.background and context.window is not None


def redraw(context: bpy.types.Context, kinds: tuple[str, ...] = ("VIEW_3D",)) -> None:
    """Tag every area of type ``kinds`` in every window for redraw."""
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in kinds:
                area.tag_redraw()


def over_view(window: bpy.types.Window | None, x: int, y: int) -> bool:
    """True when window coordinates (``event.mouse_x``, ``event.mouse_y``) lie in a 3D View area
    (its sidebar, where the VGGT panel is, included)."""
    if window is None:
        return False
    return any(a.type == "VIEW_3D" and a.x <= x < a.x + a.width and a.y <= y < a.y + a.height
               for a in window.screen.areas)


class GuiRun:
    """One background run: starts the worker and a timer on ``context.window``; the result goes into
    the scene that was active at the start (found again by ``session_uid``, which survives renames
    and undo), or is dropped with a message if that scene was deleted."""

    def __init__(self, context: bpy.types.Context, plan: runs.RunPlan, report: Report) -> None:
        global _active
        self.plan, self.report = plan, report
        self.scene_uid, self.scene_name = context.scene.session_uid, context.scene.name
        self.worker = worker.start(plan.job)
        self.timer = context.window_manager.event_timer_add(0.1, window=context.window)
        _active = self

    def scene(self) -> bpy.types.Scene | None:
        """The scene the run started in, or None if it was deleted."""
        return next((s for s in bpy.data.scenes if s.session_uid == self.scene_uid), None)

    def on_event(self, context: bpy.types.Context, kind: str, value: str, x: int, y: int) -> set[str]:
        """``modal()``'s answer to an event of type ``kind`` / ``value`` at window coordinates x, y.

        Esc cancels (and is consumed) only over a 3D View; everything else passes through, timer
        ticks included (other operators may be waiting for theirs).
        """
        if kind == "ESC" and value == "PRESS" and not self.worker.cancel_event.is_set() \
                and over_view(context.window, x, y):
            self.worker.cancel()
            run_state(context).stage = "Cancelling..."
            redraw(context)
            return {"RUNNING_MODAL"}
        if kind != "TIMER":
            return {"PASS_THROUGH"}
        return self.tick(context)

    def tick(self, context: bpy.types.Context) -> set[str]:
        """Drain the worker's queue: show progress, and at the end import and report."""
        latest, final = self.worker.poll()
        state = run_state(context)
        if latest is not None:
            state.stage, state.progress = runs.describe_stage(*latest)
        if self.worker.cancel_event.is_set() and final is None:
            state.stage = "Cancelling..."
        redraw(context)
        if final is None:
            return {"PASS_THROUGH"}
        self._stop(context)
        scene = self.scene()
        if final[0] == "done" and scene is None:
            level, message = "WARNING", f"VGGT: scene '{self.scene_name}' was deleted during the run: nothing imported"
        else:
            level, message = runs.import_plan(scene, final, self.plan)
        end_run(state, message)
        self.report({level}, message)
        redraw(context)
        return {"FINISHED"} if level == "INFO" else {"CANCELLED"}

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the operator (a file is loaded, the window closes): stop, import nothing."""
        if self.timer is None:
            return
        self.worker.cancel()
        self._stop(context)
        end_run(run_state(context), "VGGT: cancelled")

    def _stop(self, context: bpy.types.Context) -> None:
        global _active
        if self.timer is not None:
            context.window_manager.event_timer_remove(self.timer)  # a no-op for a timer already freed
            self.timer = None
        if _active is self:
            _active = None


def abort() -> None:
    """Disabling the extension: Blender frees the modal operator without calling its ``cancel()``
    (bpy's ``WM_operator_handlers_clear``), so stop the run and its timer here."""
    if _active is not None:
        _active.cancel(bpy.context)
