"""The Run / Re-import / Unload operators and the worker, headless (synchronous path), tiny model.

The add-on is enabled through addon_utils so its preferences exist; weights come from the
preferences' local checkpoint (a tiny VGGT written with vggt_core.network.weights.save_checkpoint).
"""
from __future__ import annotations

import os
import queue
import sys
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")
pytest.importorskip("torch", reason="torch is needed to run the tiny model")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).parent)]


from ext_helpers import fcurves, write_images, write_video  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.runs import worker  # noqa: E402

DATA = ("objects", "meshes", "cameras", "collections", "materials", "node_groups", "images", "movieclips", "actions")


def _counts() -> dict[str, int]:
    return {k: len(getattr(bpy.data, k)) for k in DATA}


@pytest.fixture()
def scene(addon, tmp_path):
    bpy.ops.wm.read_homefile(use_empty=True)  # keeps the add-on and its preferences (factory reset would not)
    sc = bpy.context.scene
    sc.vggt.max_frames = 0
    return sc


def _images(folder: Path, n: int = 3) -> Path:
    return write_images(folder, n)


def _new(before: set[str], kind: str = "objects"):
    return [o for o in getattr(bpy.data, kind) if o.name not in before]


def test_run_folder_builds_scene_and_reimports(scene, tmp_path):
    props = scene.vggt
    props.source_type, props.folder = "FOLDER", str(_images(tmp_path / "imgs"))
    props.proxy_every, props.conf_percentile = 2, 0.0
    before = {o.name for o in bpy.data.objects}

    assert bpy.ops.vggt.run() == {"FINISHED"}
    state = bpy.context.window_manager.vggt_run
    assert not state.is_running and state.last_message.startswith("VGGT: imported 3 frames")
    new = _new(before)
    cols = [c for c in bpy.data.collections if "vggt_settings" in c]
    assert len(cols) == 1
    col = cols[0]
    cams = [o for o in new if o.type == "CAMERA"]
    assert len(cams) == 3 + 1  # per-frame + animated
    anim = [c for c in cams if c.animation_data and c.animation_data.action]
    assert len(anim) == 1 and scene.camera == anim[0]
    assert (scene.frame_start, scene.frame_end) == (0, 2)  # img_00..img_02 on their file numbers

    # The import matches the cached Reconstruction it was built from.
    from vggt_core.run import cache

    assert os.path.isfile(col["vggt_cache"])
    recon = cache.load(col["vggt_cache"])
    assert recon.num_frames == 3 and recon.model_id.endswith("tiny.safetensors")
    points = [o for o in new if o.type == "MESH" and any(m.type == "NODES" for m in o.modifiers)]
    assert len(points) == 1
    settings = convert.ImportSettings.from_json(col["vggt_settings"])
    # Confidence 0 %: every finite point of a valid pixel (a crop leaves no padding).
    n_points = len(points[0].data.vertices)
    assert recon.valid.all() and np.isfinite(recon.points_from_depth).all()
    assert n_points == recon.valid.size  # S x H x W
    proxies = [o for o in new if o.type == "MESH" and o not in points]
    expected = [i for i in (0, 2) if convert.depth_proxy_mesh(recon, i, settings.proxy_stride,
                                                             settings.proxy_max_depth_jump,
                                                             settings.proxy_conf_percentile).num_faces]
    assert len(proxies) == len(expected) >= 1
    assert worker.loaded_model().endswith("tiny.safetensors")

    # Re-import with a stricter confidence cut: same name, fewer points, the old import is gone.
    bpy.context.view_layer.active_layer_collection = bpy.context.view_layer.layer_collection.children[col.name]
    name = col.name
    props.conf_percentile, props.import_proxies = 90.0, False
    assert bpy.ops.vggt.reimport() == {"FINISHED"}
    cols = [c for c in bpy.data.collections if "vggt_settings" in c]
    assert [c.name for c in cols] == [name]
    pts = [o for o in cols[0].all_objects if o.type == "MESH" and o.modifiers]
    assert 0.09 * n_points <= len(pts[0].data.vertices) <= 0.11 * n_points  # the top 10 %
    assert not any(o.type == "MESH" and not o.modifiers for o in cols[0].all_objects)  # no proxies now
    assert not any(o.name.endswith("(old)") for o in bpy.data.objects)

    assert bpy.ops.vggt.unload_model() == {"FINISHED"}
    assert worker.loaded_model() is None


def test_run_from_movie_strip_keys_timeline_frames(scene, tmp_path):
    pytest.importorskip("av", reason="PyAV encodes the test video")
    video = write_video(tmp_path / "plate.mp4", [20 * i for i in range(12)])
    se = scene.sequence_editor_create()
    strips = se.strips if hasattr(se, "strips") else se.sequences
    strip = strips.new_movie("plate", str(video), 1, 100)
    strip.frame_final_start, strip.frame_final_end = 102, 110  # source 2..9
    se.active_strip = strip
    props = scene.vggt
    props.source_type, props.stride = "STRIP", 3
    props.import_cameras, props.import_points, props.import_proxies = False, False, False

    assert bpy.ops.vggt.run() == {"FINISHED"}
    cam = [o for o in bpy.data.objects if o.type == "CAMERA"]
    assert len(cam) == 1
    keyed = sorted({int(k.co[0]) for fc in fcurves(cam[0]) for k in fc.keyframe_points})
    assert keyed == [102, 105, 108]
    col = next(c for c in bpy.data.collections if "vggt_settings" in c)
    from vggt_core.run import cache

    assert [f.index for f in cache.load(col["vggt_cache"]).frames] == [2, 5, 8]
    assert col.name == "VGGT plate"


def _run_error(scene) -> str:
    before = _counts()
    with pytest.raises(RuntimeError) as err:
        bpy.ops.vggt.run()
    assert _counts() == before  # nothing created
    state = bpy.context.window_manager.vggt_run
    assert not state.is_running
    message = str(err.value).strip()
    assert "\n" not in message and message.startswith("Error: ")
    assert state.last_message and state.last_message in message
    return message


def test_errors_are_one_line_and_leave_no_datablocks(scene, tmp_path, addon, ckpt):
    props = scene.vggt
    props.source_type = "FOLDER"
    (tmp_path / "empty").mkdir()
    props.folder = str(tmp_path / "empty")
    assert "image" in _run_error(scene).lower()

    bad = _images(tmp_path / "bad", 2)
    (bad / "img_99.png").write_bytes(b"this is not a png")
    props.folder = str(bad)
    assert "img_99.png" in _run_error(scene)

    props.folder = str(_images(tmp_path / "ok", 2))
    addon.local_checkpoint = str(tmp_path / "missing.safetensors")
    try:
        assert "missing.safetensors" in _run_error(scene)
        addon.model_source = "facebook/VGGT-1B"
        bpy.context.preferences.system.use_online_access = False
        try:
            from huggingface_hub import snapshot_download

            snapshot_download("facebook/VGGT-1B", local_files_only=True)
            pytest.skip("facebook/VGGT-1B is in the local HF cache: the offline error cannot be provoked")
        except Exception:
            pass
        assert "online access" in _run_error(scene)
    finally:
        addon.model_source, addon.local_checkpoint = "LOCAL", ckpt


def test_worker_cancel_mid_run(scene, tmp_path, ckpt):
    from vggt_core.run.pipeline import ReconstructSettings

    job = worker.Job(str(_images(tmp_path / "imgs", 2)), ReconstructSettings(), worker.EngineSpec(ckpt, device="cpu"))
    w = worker.Worker(job)
    cancelled_at = []

    class CancelOnAggregator(queue.Queue):
        def put(self, item, *args, **kwargs):
            if item[0] == "progress" and item[1] == "aggregator" and not cancelled_at:
                cancelled_at.append(time.monotonic())
                w.cancel()  # what the Cancel button / ESC does
            super().put(item, *args, **kwargs)

    w.queue = CancelOnAggregator()
    w.start()
    w.join(timeout=60)
    assert not w.is_alive()
    msgs = []
    while not w.queue.empty():
        msgs.append(w.queue.get())
    assert cancelled_at and msgs[-1][0] == "cancelled"
    assert not any(m[0] == "done" for m in msgs)
    stages = [m[1] for m in msgs if m[0] == "progress"]
    assert "camera" not in stages  # the heads never ran


def test_modal_poll_delivers_progress_then_result(scene, tmp_path, ckpt):
    """What the GUI modal operator does on each 0.1 s timer tick, without an event loop."""
    from vggt_core.run.pipeline import ReconstructSettings

    job = worker.Job(str(_images(tmp_path / "imgs", 2)), ReconstructSettings(), worker.EngineSpec(ckpt, device="cpu"))
    w = worker.start(job)
    seen, final, deadline = [], None, time.monotonic() + 60
    while final is None and time.monotonic() < deadline:
        time.sleep(0.1)
        latest, final = w.poll()
        if latest is not None:
            seen.append(latest)
    assert final is not None and final[0] == "done", final
    assert final[1].num_frames == 2
    assert seen and all(0.0 <= f <= 1.0 for _, f in seen)


def test_modal_poll_cancel_takes_effect_within_a_second(tmp_path):
    """A worker stuck inside a long block: after cancel() the poll reports cancelled within the grace period,
    and a result that still arrives is dropped."""
    w = worker.Worker(worker.Job(str(tmp_path), None, worker.EngineSpec("unused")))  # never started
    w.queue.put(("progress", "aggregator", 0.5))
    assert w.poll() == (("aggregator", 0.5), None)
    t0 = time.monotonic()
    w.cancel()
    final = None
    while final is None:
        time.sleep(0.1)
        _, final = w.poll()
    assert final[0] == "cancelled"
    assert worker.CANCEL_GRACE_S <= time.monotonic() - t0 <= worker.CANCEL_GRACE_S + 0.3
    w2 = worker.Worker(worker.Job(str(tmp_path), None, worker.EngineSpec("unused")))
    w2.cancel()
    w2.queue.put(("done", object(), None))  # finished just as the user pressed Cancel
    assert w2.poll()[1][0] == "cancelled"


def test_second_run_refused_while_busy(scene, tmp_path, ckpt):
    from vggt_core.run.pipeline import ReconstructSettings

    props = scene.vggt
    props.source_type, props.folder = "FOLDER", str(_images(tmp_path / "imgs", 2))
    job = worker.Job(props.folder, ReconstructSettings(), worker.EngineSpec(ckpt, device="cpu"))
    w = worker.start(job)
    try:
        assert worker.is_busy()
        assert not bpy.ops.vggt.run.poll()
        with pytest.raises(RuntimeError):
            worker.start(job)
        assert bpy.ops.vggt.cancel() == {"FINISHED"}
    finally:
        w.cancel()
        w.join(timeout=60)
    assert not worker.is_busy() and bpy.ops.vggt.run.poll()


def test_frame_numbers_choice_reaches_the_import_settings(scene):
    from vggt_blender.ui.props import import_settings

    props = scene.vggt
    assert props.frame_numbers == "PLATE" and import_settings(props, None).frame_start_at is None
    props.frame_numbers, props.frame_numbers_start = "START", 1001
    assert import_settings(props, None).frame_start_at == 1001
