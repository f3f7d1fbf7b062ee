"""A solved shot in Blender (issue 10): with one lens, the animated camera and every per-frame camera
reproject the solved points exactly where the solve's cameras do, at every frame, for landscape and portrait
plates; the report sits on the collection and in the import message; a per-frame lens with varying pixel
aspect warns in one line. Real bpy; synthetic shots with known cameras (tests/solve_shots.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from solve_shots import make_shot, project, shot_recon  # noqa: E402
from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.runs import runs  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.builders.cameras import make_active_camera  # noqa: E402
from vggt_core.solve import solve  # noqa: E402

CAMERAS = dict(point_cloud=False, depth_proxies=False, set_scene=True)


def _pixels(scene, cam, points_world, size):
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    w, h = size
    ndc = np.array([world_to_camera_view(scene, cam, Vector(p))[:2] for p in points_world])
    return np.c_[ndc[:, 0] * w, (1 - ndc[:, 1]) * h]


@pytest.mark.parametrize("size", [(640, 360), (360, 640)], ids=["landscape", "portrait"])
def test_animated_and_frame_cameras_reproject_the_solve_exactly(scene, size):
    shot = make_shot("orbit", frames=10, tracks=120, size=size, focal_px=480.0, seed=3)
    recon = solve(shot_recon(shot), lens="shared", refine="ba")
    col = import_reconstruction(recon, convert.ImportSettings(**CAMERAS), scene)
    anim = next(o for o in col.objects if o.type == "CAMERA")
    frame_cams = sorted((o for o in col.all_objects if o.type == "CAMERA" and o != anim), key=lambda o: o.name)
    assert len(frame_cams) == 10
    root = next(o for o in col.objects if o.get("vggt_root"))
    keyed = anim["vggt_reconstructed_frames"]
    pts = recon.sparse_points[:40].astype(np.float64)
    scene.frame_set(keyed[0])  # evaluates the new objects' matrices
    m = np.array(root.matrix_world)
    world = pts @ m[:3, :3].T + m[:3, 3]
    expected, _ = project(recon.intrinsics.astype(np.float64), recon.extrinsics.astype(np.float64), pts)
    for i in (0, 3, 6, 9):
        scene.frame_set(keyed[i])
        make_active_camera(scene, anim)
        np.testing.assert_allclose(_pixels(scene, anim, world, size), expected[i], atol=0.01)
        make_active_camera(scene, frame_cams[i])
        np.testing.assert_allclose(_pixels(scene, frame_cams[i], world, size), expected[i], atol=0.01)
    # ... and the solve's own residual is what is left against the tracks.
    f, p = recon.sparse_obs.T
    assert np.linalg.norm(project(recon.intrinsics.astype(np.float64), recon.extrinsics.astype(np.float64),
                                  recon.sparse_points.astype(np.float64))[0][f, p] - recon.sparse_uv, axis=1).mean() \
        == pytest.approx(recon.solve["mean_px"], abs=1e-3)
    assert json.loads(col["vggt_solve"]) == recon.solve and "vggt_lens_warning" not in col


def test_report_in_the_import_message_and_per_frame_aspect_warning(scene):
    shot = make_shot("orbit", frames=6, tracks=60, size=(640, 360), focal_px=480.0)
    recon = solve(shot_recon(shot), lens="shared", refine="ba")
    level, message, col = runs.import_final(scene, ("done", recon, None), convert.ImportSettings(**CAMERAS))
    assert level == "INFO" and "BA: error" in message and col["vggt_solve_summary"] in message

    varying = make_recon([(640, 360)] * 3)  # VGGT's per-frame cameras: fy/fx differs per frame
    level, message, col = runs.import_final(scene, ("done", varying, None), convert.ImportSettings(**CAMERAS))
    assert level == "INFO" and "vggt_solve" not in col
    assert "animated camera fits frame 0 only" in col["vggt_lens_warning"] and col["vggt_lens_warning"] in message
    assert "\n" not in message


def test_blender_cli_refine_ba_reports_and_stores_the_solve(tmp_path, ckpt, capsys):
    import torch
    from ext_helpers import write_images

    from vggt_blender.command_line import cli
    from vggt_blender.runs import worker

    torch.set_num_threads(1)
    write_images(tmp_path / "imgs", 3, size=(80, 60))
    out = tmp_path / "scene.blend"
    rc = cli.main(["--images", str(tmp_path / "imgs"), "--out", str(out), "--weights", str(ckpt), "--device", "cpu",
                   "--lens", "known", "--focal-mm", "40", "--refine", "ba"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    worker.unload_engine()
    assert "vggt: camera solve: lens known, focal" in captured.err
    record = json.loads(captured.out.strip().splitlines()[-1])
    assert record["solve"]["lens"] == "known" and record["solve"]["refine"] == "ba"
    assert f"verdict {record['solve']['verdict']}" in captured.err
    graph = tmp_path / "scene_solve_errors.png"  # the per-frame error graph beside the .blend, when BA ran
    assert graph.is_file() == (record["solve"].get("per_frame_px") is not None)
    assert graph.is_file() == (str(graph) in record["files"])
    bpy.ops.wm.open_mainfile(filepath=str(out))
    col = next(c for c in bpy.data.collections if "vggt_solve" in c)
    assert json.loads(col["vggt_solve"])["focal_after_px"] == pytest.approx(40 / 36 * 80)  # --sensor-width 36


def test_the_panel_and_the_blender_command_line_share_the_core_defaults(addon, tmp_path):
    """One set of defaults (issue 27): a fresh panel's Run and a bare ``blender -b -c vggt --images DIR`` solve with
    the core's ``ReconstructSettings()``, field for field (the frame selection and numbers aside: each source's)."""
    from dataclasses import replace

    from ext_helpers import write_images
    from vggt_blender.command_line import cli
    from vggt_core import DEFAULTS

    bpy.ops.wm.read_homefile(use_empty=True)
    props = bpy.context.scene.vggt
    props.source_type, props.folder = "FOLDER", str(write_images(tmp_path / "imgs", 2))
    panel = runs.plan_from_scene(bpy.context).job.settings
    args = cli._parser().parse_args(["--images", str(tmp_path / "imgs"), "--out", str(tmp_path / "s.blend")])
    blender = cli._plan(args).job.settings
    for settings in (panel, blender):
        assert replace(settings, selection=DEFAULTS.selection, frame_numbers=None) == DEFAULTS
    assert (panel.refine, panel.lens) == ("ba", "auto")
    props.refine = False  # the preview is one switch away
    assert runs.plan_from_scene(bpy.context).job.settings.refine == "none"


def test_panel_solve_settings_reach_the_run(addon, tmp_path):
    from ext_helpers import write_images

    bpy.ops.wm.read_homefile(use_empty=True)
    props = bpy.context.scene.vggt
    props.source_type, props.folder = "FOLDER", str(write_images(tmp_path / "imgs", 2))
    props.lens, props.lens_focal_mm, props.lens_sensor_mm, props.refine = "known", 50.0, 24.0, True
    props.distortion, props.track_markers, props.track_frames = "k1", True, 6
    plan = runs.plan_from_scene(bpy.context)
    s = plan.job.settings
    assert (s.lens, s.focal_mm, s.sensor_width_mm, s.refine, s.distortion) == ("known", 50.0, 24.0, "ba", "k1")
    assert s.track_frames == 6 and s.motion == "auto" and s.track_refine == "plate"  # the panel's default
    assert plan.import_settings.track_markers
    props.track_refine = "none"
    assert runs.plan_from_scene(bpy.context).job.settings.track_refine == "none"
    props.motion, props.lens = "tripod", "zoom"  # both solve distortion now (one for the shot)
    s = runs.plan_from_scene(bpy.context).job.settings
    assert (s.motion, s.lens, s.distortion) == ("tripod", "zoom", "k1")
    props.lens = "per-frame"  # a lens per frame solves none: the panel hides it, the run drops it
    assert runs.plan_from_scene(bpy.context).job.settings.distortion == "none"


def test_tripod_shot_keeps_one_camera_location_and_reprojects_the_solve(scene):
    shot = make_shot("tripod", frames=8, tracks=200, size=(640, 360), focal_px=500.0, seed=2, query_frames=3)
    recon = solve(shot_recon(shot), lens="shared", refine="ba")  # auto picks tripod
    assert recon.solve["motion"] == "tripod"
    col = import_reconstruction(recon, convert.ImportSettings(**CAMERAS), scene)
    from vggt_core.solve.graph import SIZE

    graph = bpy.data.images[col["vggt_solve_graph"]]  # the panel's error graph, packed into the .blend
    assert graph.packed_file is not None and tuple(graph.size) == SIZE
    assert "verdict good" in col["vggt_solve_summary"]
    anim = next(o for o in col.objects if o.type == "CAMERA")
    frame_cams = [o for o in col.all_objects if o.type == "CAMERA" and o != anim]
    root = next(o for o in col.objects if o.get("vggt_root"))
    keyed = anim["vggt_reconstructed_frames"]
    locations = []
    for fr in keyed:
        scene.frame_set(fr)
        locations.append(np.array(anim.matrix_world.translation))
    np.testing.assert_allclose(locations, np.broadcast_to(locations[0], (len(keyed), 3)), atol=1e-5)
    np.testing.assert_allclose([np.array(o.matrix_world.translation) for o in frame_cams],
                               np.broadcast_to(locations[0], (len(frame_cams), 3)), atol=1e-5)
    pts = recon.sparse_points[:40].astype(np.float64)
    m = np.array(root.matrix_world)
    world = pts @ m[:3, :3].T + m[:3, 3]
    expected, _ = project(recon.intrinsics.astype(np.float64), recon.extrinsics.astype(np.float64), pts)
    for i in (0, 4, 7):
        scene.frame_set(keyed[i])
        make_active_camera(scene, anim)
        np.testing.assert_allclose(_pixels(scene, anim, world, (640, 360)), expected[i], atol=0.01)
    # The points sit on the solved rays (at VGGT's depth): they reproject with the solve's own error.
    f, p = recon.sparse_obs.T
    err = np.linalg.norm(project(recon.intrinsics.astype(np.float64), recon.extrinsics.astype(np.float64),
                                 recon.sparse_points.astype(np.float64))[0][f, p] - recon.sparse_uv, axis=1)
    assert err.mean() == pytest.approx(recon.solve["mean_px"], abs=1e-3)
