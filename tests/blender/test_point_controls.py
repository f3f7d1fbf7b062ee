"""Point cloud controls and camera display on real bpy: GN frame range and dark/bright filters, the
threshold starting at the import percentile, reference geometry hidden from renders, camera display
size and names, Look Through."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.operators import setup_ops  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.builders.datablocks import Ledger  # noqa: E402
from vggt_blender.builders.points import (  # noqa: E402
    BRIGHT_INPUT, DARK_INPUT, FIRST_FRAME_INPUT, LAST_FRAME_INPUT, THRESHOLD_INPUT, build_point_cloud,
    evaluated_point_count, modifier_input, point_attribute, set_modifier_input,
)


@pytest.fixture()
def scene():
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


def _import(scene, recon, **kw):
    col = import_reconstruction(recon, convert.ImportSettings(**kw), scene)
    return col, {o.name: o for o in col.all_objects}


def test_threshold_starts_at_the_import_percentile_and_frame_range_filters(scene):
    recon = make_recon([(84, 56)] * 4)
    col, objs = _import(scene, recon, depth_proxies=False, conf_percentile=50.0)
    cloud = next(o for o in objs.values() if "VGGT Points" in o.modifiers)
    mod = cloud.modifiers["VGGT Points"]
    thr = modifier_input(mod, THRESHOLD_INPUT)
    assert 49.0 < thr <= 50.0  # not 0: values below the import's cut would change nothing
    n = len(cloud.data.vertices)
    assert evaluated_point_count(cloud) == n  # every imported point still shows
    frame = point_attribute(cloud, "frame")
    assert modifier_input(mod, LAST_FRAME_INPUT) == 3
    set_modifier_input(mod, FIRST_FRAME_INPUT, 1)
    set_modifier_input(mod, LAST_FRAME_INPUT, 2)
    cloud.update_tag()
    assert evaluated_point_count(cloud) == int(((frame >= 1) & (frame <= 2)).sum()) > 0


def test_dark_and_bright_background_points_dropped(scene):
    rgb = np.array([[0, 0, 0], [3, 3, 3], [128, 100, 90], [255, 255, 255], [250, 252, 251]], np.uint8)
    pts = convert.point_arrays(np.zeros((5, 3)), rgb, np.full(5, 5.0), np.zeros(5, int))
    root = bpy.data.objects.new("root", None)
    scene.collection.objects.link(root)
    cloud = build_point_cloud(Ledger(), pts, "t", scene.collection, root, radius=0.1)
    mod = cloud.modifiers["VGGT Points"]
    assert evaluated_point_count(cloud) == 5  # the defaults keep everything
    set_modifier_input(mod, DARK_INPUT, 0.02)
    set_modifier_input(mod, BRIGHT_INPUT, 0.95)
    cloud.update_tag()
    assert evaluated_point_count(cloud) == 1  # only the mid grey-brown point is left


def test_reference_geometry_hidden_from_renders_cameras_sized_and_named(scene):
    recon = make_recon([(84, 56)] * 3, video="/nonexistent/plate.mov", indices=[3, 7, 11])
    col, objs = _import(scene, recon, proxy_every=1, conf_percentile=0.0)
    meshes = [o for o in objs.values() if o.type == "MESH"]
    assert len(meshes) == 4 and all(o.hide_render for o in meshes)  # points + 3 proxies
    cams = [o for o in objs.values() if o.type == "CAMERA"]
    size = 0.1 * float(np.median(recon.depth[recon.valid]))
    assert all(abs(c.data.display_size - size) < 1e-6 for c in cams)
    assert sorted(o.name.rsplit(" ", 1)[1] for o in cams if "vggt_frame" in o) == ["0003", "0007", "0011"]


def test_camera_labels_fall_back_to_positions():
    from vggt_core.reconstruction import FrameInfo

    def still(path):
        return FrameInfo(source=path, index=0, timestamp=None, width=4, height=4)

    assert convert.frame_labels([still("/a/x_0010.png"), still("/a/x_0012.png")]) == ["0010", "0012"]
    assert convert.frame_labels([still("/a/left.png"), still("/a/right.png")]) == ["0000", "0001"]
    assert convert.frame_labels([still("/a/x_1.png"), still("/b/x_1.png")]) == ["0000", "0001"]


def test_look_through_sets_resolution_from_that_camera(scene):
    for cls in setup_ops.classes:
        bpy.utils.register_class(cls)
    try:
        recon = make_recon([(84, 56), (60, 80), (84, 56)])
        col, objs = _import(scene, recon, depth_proxies=False, point_cloud=False)
        cam = next(o for o in objs.values() if o.get("vggt_frame") == 1)
        bpy.context.view_layer.objects.active = cam
        assert bpy.ops.vggt.look_through() == {"FINISHED"}
        r = scene.render
        assert scene.camera == cam and (r.resolution_x, r.resolution_y, r.resolution_percentage) == (60, 80, 100)
        assert (r.pixel_aspect_x, r.pixel_aspect_y) == pytest.approx(tuple(cam["vggt_pixel_aspect"]))
    finally:
        for cls in reversed(setup_ops.classes):
            bpy.utils.unregister_class(cls)
