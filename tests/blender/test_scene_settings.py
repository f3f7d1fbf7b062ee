"""Set Scene From Plate (issue 13 item 3): the plate's resolution, fps and frame range go on the scene
only when asked, never over a Video Sequencer edit that holds other strips, and the import says what
changed. Real bpy, analytic reconstructions (tests/synth_recon.py)."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.runs import runs  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.ui.props import import_settings  # noqa: E402

CAMERAS = dict(point_cloud=False, depth_proxies=False, set_scene=True)


@pytest.fixture()
def scene(scene):
    scene.render.resolution_x, scene.render.resolution_y, scene.render.fps = 1920, 1080, 30
    scene.frame_start, scene.frame_end = 1, 250
    return scene


def _edit_state(sc):
    r = sc.render
    return (r.resolution_x, r.resolution_y, r.pixel_aspect_y, r.fps, r.fps_base, sc.frame_start, sc.frame_end)


def _strip_plate(sc, name: str, timeline=(101, 103, 105)) -> convert.PlateSettings:
    se = sc.sequence_editor_create()
    strips = se.strips if hasattr(se, "strips") else se.sequences  # 5.0 / 4.2
    span = {"length": 20} if hasattr(se, "strips") else {"frame_end": 121}
    strips.new_effect(name, "COLOR", 1, 101, **span)  # stands in for the plate strip: only its name matters
    return convert.PlateSettings(timeline_frames=timeline, fps=24.0, strip=name)


def test_never_over_an_edit_with_other_strips(scene):
    plate = _strip_plate(scene, "plate")
    se = scene.sequence_editor
    strips = se.strips if hasattr(se, "strips") else se.sequences
    span = {"length": 50} if hasattr(se, "strips") else {"frame_end": 51}
    strips.new_effect("title", "COLOR", 2, 1, **span)
    before = _edit_state(scene)
    recon = make_recon([(640, 360)] * 3)
    col = import_reconstruction(recon, convert.ImportSettings(**CAMERAS, plate=plate), scene)
    assert _edit_state(scene) == before
    anim = next(o for o in col.objects if o.type == "CAMERA")
    assert scene.camera == anim
    assert col["vggt_scene_changes"] == ("kept the edit's resolution, fps and frame range (the sequencer "
                                         f"holds 1 other strips); active camera '{anim.name}'")


def test_plate_strip_alone_sets_the_scene_and_says_what_changed(scene):
    plate = _strip_plate(scene, "plate")
    recon = make_recon([(640, 360)] * 3)
    col = import_reconstruction(recon, convert.ImportSettings(**CAMERAS, plate=plate), scene)
    r = scene.render
    assert (r.resolution_x, r.resolution_y, r.fps, scene.frame_start, scene.frame_end) == (640, 360, 24, 101, 105)
    changes = col["vggt_scene_changes"]
    assert changes.startswith("resolution 640x360 (was 1920x1080 at 100%); 24 fps (was 30); "
                              "frames 101-105 (was 1-250); active camera ")
    final = ("done", make_recon([(640, 360)] * 3), "")
    level, message = runs.import_result(scene, final, convert.ImportSettings(**CAMERAS, plate=plate))
    assert level == "INFO" and message.endswith("; scene: active camera '" + scene.camera.name + "'")


@pytest.mark.parametrize("choice,source,expected", [
    ("AUTO", "STRIP", False), ("AUTO", "FOLDER", True), ("AUTO", "CLIP", True),
    ("PLATE", "STRIP", True), ("KEEP", "FOLDER", False),
])
def test_scene_settings_choice(choice, source, expected):
    """Strips keep the edit's settings unless the user picks "From Plate"."""
    props = SimpleNamespace(
        import_cameras=True, import_animated_camera=True, import_points=False, point_source="depth",
        conf_percentile=50.0, max_points=0, import_proxies=False, proxy_every=5, max_proxies=40, set_scene=choice,
        source_type=source, refine=False, track_markers=False, frame_numbers="PLATE", frame_numbers_start=1001,
        undistorted_plate=True,
    )
    assert import_settings(props, None).set_scene is expected
