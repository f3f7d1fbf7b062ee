"""The UI run path (``VGGT_OT_run`` in a window: worker thread + modal operator), against real bpy
and the tiny model.

bpy's background mode has no event loop, so ``modal()`` is never called there: the tests make the
operator take its UI path (``gui_run.interactive``), then feed ``gui_run.GuiRun`` the events
``modal()`` would forward. Invoking the operator, its modal handler, the window's areas, file loading
(which makes Blender call the operator's ``cancel()``) and disabling the extension are all real.
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")
pytest.importorskip("torch", reason="torch is needed to run the tiny model")

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).parent)]

import addon_utils  # noqa: E402

from ext_helpers import write_images  # noqa: E402
from test_operators import scene  # noqa: E402,F401  (shared fixture)
from vggt_blender.runs import gui_run, worker  # noqa: E402
from vggt_blender.operators.threaded_op import ThreadedOperator  # noqa: E402


@pytest.fixture()
def ui(scene, tmp_path, monkeypatch):
    """A scene set up to reconstruct 2 images, with the run operator on its UI path."""
    monkeypatch.setattr(gui_run, "interactive", lambda context: True)
    props = scene.vggt
    props.source_type, props.folder = "FOLDER", str(write_images(tmp_path / "imgs", 2))
    props.import_proxies = False
    yield scene
    w = worker.current()
    if w is not None:  # a cancelled worker may still be finishing its block
        w.cancel()
        w.join(timeout=60)


def _start() -> gui_run.GuiRun:
    before = set(bpy.data.collections.keys())
    # EXEC_DEFAULT: what Repeat Last / F3 / a script call in the UI do. It must not run the model here.
    assert bpy.ops.vggt.run("EXEC_DEFAULT") == {"RUNNING_MODAL"}
    run = gui_run.active()
    assert run is not None and run.worker is worker.current() and run.timer is not None
    assert set(bpy.data.collections.keys()) == before  # nothing imported yet
    assert bpy.context.window_manager.vggt_run.is_running
    return run


def _drive(run: gui_run.GuiRun, timeout: float = 60.0) -> set[str]:
    """Timer ticks, as the 0.1 s event timer would send them, until the operator ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        result = run.on_event(bpy.context, "TIMER", "NOTHING", 0, 0)
        if result != {"PASS_THROUGH"}:
            return result
    raise AssertionError("the run did not finish")


def _centre(area_type: str) -> tuple[int, int]:
    area = next(a for a in bpy.context.window.screen.areas if a.type == area_type)
    return area.x + area.width // 2, area.y + area.height // 2


def _imports(scene) -> list[str]:
    return [c.name for c in scene.collection.children_recursive if "vggt_settings" in c]


def test_run_belongs_to_its_scene_and_other_events_pass_through(ui):
    run = _start()
    other = bpy.data.scenes.new("Other")
    bpy.context.window.scene = other  # the artist switches scenes mid-run
    assert run.on_event(bpy.context, "ESC", "PRESS", *_centre("PROPERTIES")) == {"PASS_THROUGH"}
    assert run.on_event(bpy.context, "MOUSEMOVE", "NOTHING", *_centre("VIEW_3D")) == {"PASS_THROUGH"}
    assert not run.worker.cancel_event.is_set()

    assert _drive(run) == {"FINISHED"}
    assert bpy.context.scene == other
    assert _imports(ui) == ["VGGT imgs"] and _imports(other) == []
    state = bpy.context.window_manager.vggt_run
    assert not state.is_running and state.scene_name == ""
    assert state.last_message.startswith("VGGT: imported 2 frames into 'VGGT imgs'")
    assert gui_run.active() is None and run.timer is None


def test_result_dropped_when_its_scene_was_deleted(ui):
    run = _start()
    other = bpy.data.scenes.new("Other")
    bpy.context.window.scene = other
    bpy.data.scenes.remove(ui)

    assert _drive(run) == {"CANCELLED"}
    assert not [c for c in bpy.data.collections if "vggt_settings" in c]
    state = bpy.context.window_manager.vggt_run
    assert not state.is_running and "was deleted" in state.last_message and "\n" not in state.last_message


@pytest.mark.parametrize("deleted", [False, True])
def test_resolve_runs_in_the_worker_and_rebuilds_the_import_in_place(ui, deleted):
    assert _drive(_start()) == {"FINISHED"}
    (col,) = [c for c in bpy.data.collections if "vggt_settings" in c]
    name, uid = col.name, col.session_uid
    ui.vggt.lens, ui.vggt.lens_focal_mm, ui.vggt.lens_sensor_mm = "known", 35.0, 36.0
    bpy.context.view_layer.active_layer_collection = bpy.context.view_layer.layer_collection.children[name]
    assert bpy.ops.vggt.resolve("EXEC_DEFAULT") == {"RUNNING_MODAL"}  # the solve runs in the worker thread
    run = gui_run.active()
    assert run is not None and run.plan.replaces == uid and not run.plan.job.network
    if deleted:  # the artist deletes the import while it is re-solved
        bpy.data.collections.remove(col)
        assert _drive(run) == {"CANCELLED"}
        assert _imports(ui) == [] and "was deleted" in bpy.context.window_manager.vggt_run.last_message
        return
    assert _drive(run) == {"FINISHED"}
    assert _imports(ui) == [name] and bpy.data.collections[name].session_uid != uid  # rebuilt in its place
    cameras = [o for o in bpy.data.collections[name].all_objects if o.type == "CAMERA"]
    assert cameras and all(abs(o.data.lens - 35.0) < 1e-3 for o in cameras)


def test_esc_over_the_3d_view_cancels_once(ui):
    run = _start()
    x, y = _centre("VIEW_3D")
    assert run.on_event(bpy.context, "ESC", "RELEASE", x, y) == {"PASS_THROUGH"}
    assert run.on_event(bpy.context, "ESC", "PRESS", x, y) == {"RUNNING_MODAL"}  # consumed
    assert run.worker.cancel_event.is_set()
    assert bpy.context.window_manager.vggt_run.stage == "Cancelling..."
    assert run.on_event(bpy.context, "ESC", "PRESS", x, y) == {"PASS_THROUGH"}  # nothing left to cancel

    assert _drive(run) == {"CANCELLED"}
    assert _imports(ui) == []
    assert bpy.context.window_manager.vggt_run.last_message == "VGGT: cancelled"


def test_over_view_follows_the_area_rectangles(ui):
    window = bpy.context.window
    view = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    assert gui_run.over_view(window, view.x, view.y)
    assert gui_run.over_view(window, view.x + view.width - 1, view.y + view.height - 1)
    assert not gui_run.over_view(window, view.x + view.width, view.y)  # the right neighbour's column
    assert not gui_run.over_view(window, view.x, view.y - 1)
    assert not gui_run.over_view(None, view.x, view.y)


def test_loading_a_file_cancels_the_run(ui):
    run = _start()
    bpy.ops.wm.read_homefile(use_empty=True)  # Blender ends the modal operator through cancel()

    assert run.worker.cancel_event.is_set()
    assert gui_run.active() is None and run.timer is None
    run.worker.join(timeout=60)
    assert not [c for c in bpy.data.collections if "vggt_settings" in c]
    assert not bpy.context.window_manager.vggt_run.is_running


def test_disabling_the_extension_mid_run_frees_the_model(ui, ckpt, tmp_path):
    assert _drive(_start()) == {"FINISHED"}  # loads the model, which stays loaded
    ui.vggt.folder = str(write_images(tmp_path / "more", 3))  # not cached: the next run uses the model
    run = _start()
    assert run.worker.is_alive() and worker.loaded_model() is not None
    addon_utils.disable("vggt_blender", default_set=True)
    try:
        assert run.worker.cancel_event.is_set() and gui_run.active() is None
        run.worker.join(timeout=60)
        assert worker.loaded_model() is None  # freed as the cancelled run ended
    finally:
        addon_utils.enable("vggt_blender", default_set=True)
        prefs = bpy.context.preferences.addons["vggt_blender"].preferences
        prefs.model_source, prefs.local_checkpoint, prefs.device = "LOCAL", ckpt, "cpu"


class _Nap(ThreadedOperator, bpy.types.Operator):
    """A threaded task of 0.3 s, standing in for Install Dependencies / Download Model."""

    bl_idname = "vggt_test.nap"
    bl_label = "Nap"
    state = SimpleNamespace(running=False, failed=False, message="")
    started: list = []

    def _start(self, context, wait: bool) -> bool:
        def nap() -> None:
            time.sleep(0.3)
            _Nap.state.running, _Nap.state.message = False, "rested"

        _Nap.state.running = True
        _Nap.started.append(self)
        thread = threading.Thread(target=nap, daemon=True)
        thread.start()
        if wait:
            thread.join()
        return True

    def _state(self):
        return _Nap.state


@pytest.fixture()
def nap_op():
    bpy.utils.register_class(_Nap)
    _Nap.started.clear()
    yield _Nap
    bpy.utils.unregister_class(_Nap)


def test_threaded_operator_never_blocks_the_ui_and_passes_timers_on(nap_op, monkeypatch):
    monkeypatch.setattr(gui_run, "interactive", lambda context: True)
    t0 = time.monotonic()
    assert bpy.ops.vggt_test.nap("EXEC_DEFAULT") == {"RUNNING_MODAL"}  # F3 / Repeat Last included
    assert time.monotonic() - t0 < 0.25 and nap_op.state.running
    op = nap_op.started[-1]
    tick = SimpleNamespace(type="TIMER", value="NOTHING")
    assert op.modal(bpy.context, tick) == {"PASS_THROUGH"}  # other operators' timers get through
    assert op.modal(bpy.context, SimpleNamespace(type="ESC", value="PRESS")) == {"PASS_THROUGH"}
    deadline = time.monotonic() + 10
    while nap_op.state.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert op.modal(bpy.context, tick) == {"FINISHED"}


def test_threaded_operator_waits_in_background_mode(nap_op):
    assert bpy.ops.vggt_test.nap("EXEC_DEFAULT") == {"FINISHED"}
    assert not nap_op.state.running and nap_op.state.message == "rested"
