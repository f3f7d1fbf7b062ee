"""Operators whose work runs in a thread of their own (dependency install, model download).

In a GUI session the operator returns at once and a 0.25 s timer redraws its progress and reports
the end; in background mode (``blender -b``, the bpy module: timers never fire) it waits for the
thread. Never runs the work on the UI thread, whether started by a click, F3 or Repeat Last.
"""
from __future__ import annotations

from typing import Protocol

import bpy

from ..runs import gui_run


class TaskState(Protocol):
    """What the task's thread publishes for the UI."""

    running: bool
    failed: bool
    message: str


class ThreadedOperator:
    """Mixin for a ``bpy.types.Operator``: define ``_start(context, wait)`` and ``_state()``."""

    def _start(self, context: bpy.types.Context, wait: bool) -> bool:
        """Check the preconditions (reporting why not) and start the thread; False: nothing started."""
        raise NotImplementedError

    def _state(self) -> TaskState:
        raise NotImplementedError

    def _report_end(self) -> set[str]:
        state = self._state()
        self.report({"ERROR" if state.failed else "INFO"}, state.message)
        return {"CANCELLED"} if state.failed else {"FINISHED"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        interactive = gui_run.interactive(context)
        if not self._start(context, wait=not interactive):
            return {"CANCELLED"}
        if not interactive:
            return self._report_end()
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        gui_run.redraw(context, ("PREFERENCES", "VIEW_3D"))
        if self._state().running:
            return {"PASS_THROUGH"}  # other operators' timers must reach them too
        context.window_manager.event_timer_remove(self._timer)
        return self._report_end()
