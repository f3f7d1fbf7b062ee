"""Scene setup operators on real bpy: Set Floor / Origin / Forward / Level / Scale act on the root Empty only.

The synthetic reconstruction is a room (floor, a larger wall, clutter) seen by cameras 1.5 m above the
floor, moved into VGGT's world by a random similarity (tilt, offset, scale), so the floor is a known,
randomly tilted and offset plane.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from synth_recon import look_at_extrinsic, make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.operators import setup_ops  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.builders.points import point_cloud_of, world_vertices  # noqa: E402

S, HW = 6, (28, 42)
CAM_HEIGHT = 1.5


def _random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def room_recon(seed: int):
    """(Reconstruction, true->VGGT similarity (r, t, s)). True frame: floor Z = 0 (4 x 4 m), a 6 x 3 m wall
    at Y = 2, a box of clutter; cameras at 1.5 m looking ahead and down."""
    rng = np.random.default_rng(seed)
    recon = make_recon([(84, 56)] * S, model_hw=HW, seed=seed)
    n = S * HW[0] * HW[1]
    nf, nw = int(0.5 * n), int(0.35 * n)
    nc = n - nf - nw
    floor = np.c_[rng.uniform(-2, 2, (nf, 2)), np.zeros(nf)]
    wall = np.c_[rng.uniform(-3, 3, nw), np.full(nw, 2.0), rng.uniform(0, 3, nw)]
    clutter = rng.uniform([-0.5, -0.5, 0.05], [0.5, 0.5, 1.0], (nc, 3))
    pts = rng.permutation(np.concatenate([floor, wall, clutter]))
    r, t, s = _random_rotation(rng), rng.normal(0, 2, 3), rng.uniform(0.3, 3.0)
    to_vggt = lambda x: s * np.asarray(x, float) @ r.T + t  # noqa: E731
    recon.points_from_depth = to_vggt(pts).reshape(S, *HW, 3).astype(np.float32)
    ext = []
    for i in range(S):
        c = np.array([-1.5 + 0.6 * i, -1.8, CAM_HEIGHT])
        target = c + np.array([0.0, np.cos(0.4), -np.sin(0.4)])
        # look_at_extrinsic's ``up`` is the world direction of the image's +y (down)
        ext.append(look_at_extrinsic(to_vggt(c), to_vggt(target), up=-(r @ [0, 0, 1.0])))
    recon.extrinsics = np.asarray(ext, np.float32)
    return recon, (r, t, s)


@pytest.fixture(scope="module", autouse=True)
def registered():
    for cls in setup_ops.classes:
        bpy.utils.register_class(cls)
    yield
    for cls in reversed(setup_ops.classes):
        bpy.utils.unregister_class(cls)


def build(seed: int):
    bpy.ops.wm.read_homefile(use_empty=True)
    recon, sim = room_recon(seed)
    st = convert.ImportSettings(depth_proxies=False, conf_percentile=0.0, set_scene=True)
    col = import_reconstruction(recon, st, bpy.context.scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    bpy.context.view_layer.objects.active = root
    bpy.context.view_layer.update()
    return root, sim


def _world(obj) -> np.ndarray:
    return np.array(obj.matrix_world)


def _floor_normal_world(root, r) -> np.ndarray:
    n = np.array(root.matrix_world.to_3x3()) @ (r @ [0, 0, 1.0])
    return n / np.linalg.norm(n)


def _snapshot():
    return {o.name: _world(o).copy() for o in bpy.data.objects}, {c.name: (c.clip_start, c.clip_end)
                                                                  for c in bpy.data.cameras}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_set_floor_auto_levels_the_random_floor_with_cameras_above(seed):
    root, (r, t, s) = build(seed)
    before = {o.name: np.array(o.matrix_basis) for o in bpy.data.objects if o != root}
    assert bpy.ops.vggt.set_floor(source="AUTO") == {"FINISHED"}
    angle = np.degrees(np.arccos(np.clip(_floor_normal_world(root, r)[2], -1, 1)))
    assert angle < 0.5, angle
    floor_pt = np.array(root.matrix_world) @ np.r_[t, 1.0]  # the true origin lies on the floor
    assert abs(floor_pt[2]) < 0.01 * s
    cams = setup_ops.cameras_of(root)
    assert len(cams) == S
    np.testing.assert_allclose([c.matrix_world.translation.z for c in cams], CAM_HEIGHT * s, rtol=0.01)
    # only the root moved: every other object's local matrix is untouched
    for o in bpy.data.objects:
        if o != root:
            np.testing.assert_allclose(np.array(o.matrix_basis), before[o.name], atol=1e-6)


def test_floor_then_scale_by_camera_height_and_two_points_is_exact():
    root, (r, t, s) = build(3)
    assert bpy.ops.vggt.set_floor(source="AUTO") == {"FINISHED"}
    assert bpy.ops.vggt.set_origin(target="FLOOR") == {"FINISHED"}
    assert bpy.ops.vggt.set_scale(mode="CAMERA_HEIGHT", distance=1.6) == {"FINISHED"}
    heights = [c.matrix_world.translation.z for c in setup_ops.cameras_of(root)]
    assert abs(np.mean(heights) - 1.6) < 1e-6
    cam = setup_ops.cameras_of(root)[0]
    imported = convert.frame_cameras(room_recon(3)[0])[0].clip_start
    assert cam.data.clip_start == pytest.approx(imported * 1.6 / (CAM_HEIGHT * s), rel=2e-2)  # clipping scaled too

    # two selected vertices of the point cloud become exactly 2.5 apart
    cloud = point_cloud_of(root)
    cloud.data.vertices.foreach_set("select", np.zeros(len(cloud.data.vertices), bool))
    cloud.data.vertices[10].select = cloud.data.vertices[500].select = True
    for o in bpy.context.selected_objects:
        o.select_set(False)
    cloud.select_set(True)
    assert bpy.ops.vggt.set_scale(mode="DISTANCE", distance=2.5) == {"FINISHED"}
    m = np.array(cloud.matrix_world)
    a, b = (m @ np.r_[np.array(cloud.data.vertices[i].co), 1.0] for i in (10, 500))
    assert abs(np.linalg.norm(a[:3] - b[:3]) - 2.5) < 1e-6


def test_set_origin_to_cursor_forward_and_level():
    root, (r, t, s) = build(4)
    bpy.ops.vggt.set_floor(source="AUTO")
    cursor = np.array([0.3, -0.2, 0.0])
    bpy.context.scene.cursor.location = cursor
    cam0 = setup_ops.cameras_of(root)[0]
    before = np.array(cam0.matrix_world.translation)
    assert bpy.ops.vggt.set_origin(target="CURSOR") == {"FINISHED"}
    np.testing.assert_allclose(np.array(cam0.matrix_world.translation), before - cursor, atol=1e-5)

    bpy.context.scene.camera = cam0
    assert bpy.ops.vggt.set_forward() == {"FINISHED"}
    view = -np.array(cam0.matrix_world.to_3x3())[:, 2]
    assert abs(np.arctan2(view[0], view[1])) < 1e-5  # the camera now looks along +Y (and still down)

    # The cameras look 23 degrees down at a level floor. Roll the scene 5 degrees about the view direction:
    # Level Horizon takes the roll out and keeps the pitch, so the floor is level again.
    from mathutils import Matrix

    root.matrix_basis = Matrix.Rotation(np.radians(5.0), 4, view.tolist()) @ root.matrix_basis
    bpy.context.view_layer.update()
    assert np.degrees(np.arccos(_floor_normal_world(root, r)[2])) > 4.0
    assert bpy.ops.vggt.level() == {"FINISHED"}
    bpy.context.view_layer.update()
    assert np.degrees(np.arccos(np.clip(_floor_normal_world(root, r)[2], -1, 1))) < 0.5
    axes = np.array([np.array(c.matrix_world.to_3x3()) for c in setup_ops.cameras_of(root)])
    rights = axes[:, :, 0] / np.linalg.norm(axes[:, :, 0], axis=1, keepdims=True)
    assert np.degrees(np.abs(np.arcsin(rights[:, 2]))).max() < 1e-3  # no roll left
    views = -axes[:, :, 2] / np.linalg.norm(axes[:, :, 2], axis=1, keepdims=True)
    np.testing.assert_allclose(np.degrees(np.arcsin(views[:, 2])), -np.degrees(0.4), atol=0.5)  # pitch kept


def test_errors_leave_the_scene_untouched():
    root, _ = build(5)
    objs, clips = _snapshot()
    for o in bpy.context.selected_objects:
        o.select_set(False)
    with pytest.raises(RuntimeError, match="select exactly two points"):
        bpy.ops.vggt.set_scale(mode="DISTANCE", distance=1.0)
    with pytest.raises(RuntimeError, match="select at least 3 points"):
        bpy.ops.vggt.set_floor(source="SELECTED")
    after_objs, after_clips = _snapshot()
    assert after_clips == clips
    for name, m in objs.items():
        np.testing.assert_array_equal(after_objs[name], m)


def test_undo_restores_the_root():
    """Blender's undo, headless: ``ed.undo`` needs a window in the context (the bpy module has one)."""
    root, _ = build(6)
    assert {"REGISTER", "UNDO"} <= set(bpy.types.VGGT_OT_set_floor.bl_options)
    before, clip = _world(root), setup_ops.cameras_of(root)[0].data.clip_start
    with bpy.context.temp_override(window=bpy.context.window_manager.windows[0]):
        bpy.ops.ed.undo_push(message="before setup")
        # positional "EXEC_DEFAULT", True: push an undo step as a button press does (scripts default to none)
        assert bpy.ops.vggt.set_floor("EXEC_DEFAULT", True, source="AUTO") == {"FINISHED"}
        assert bpy.ops.vggt.set_scale("EXEC_DEFAULT", True, mode="CAMERA_HEIGHT", distance=1.6) == {"FINISHED"}
        assert not np.allclose(_world(root), before)
        assert bpy.ops.ed.undo() == {"FINISHED"}
        assert bpy.ops.ed.undo() == {"FINISHED"}
    root = next(o for o in bpy.data.objects if o.get("vggt_root"))  # undo reloads the datablocks
    np.testing.assert_allclose(_world(root), before, atol=1e-7)
    assert setup_ops.cameras_of(root)[0].data.clip_start == clip


@pytest.fixture()
def ckpt(request, tmp_path) -> Path:
    """A tiny VGGT checkpoint (skips without torch: the tiny_model fixture needs it)."""
    pytest.importorskip("torch")
    from vggt_core.network.weights import save_checkpoint

    return save_checkpoint(request.getfixturevalue("tiny_model"), tmp_path / "tiny.safetensors")


def test_headless_floor_origin_scale_and_exports(tmp_path, ckpt, capsys):
    """``blender -b -c vggt`` on the bundled example with a synthetic (tiny, random) checkpoint."""
    import torch

    from vggt_blender.command_line import cli
    from vggt_blender.runs import worker

    torch.set_num_threads(1)
    out = tmp_path / "scene.blend"
    files = [tmp_path / "exp" / n for n in ("cam.abc", "cam.chan", "cam.usdc", "cam.fbx")]
    argv = ["--images", str(REPO / "examples" / "orbit" / "images"), "--out", str(out), "--weights", str(ckpt),
            "--device", "cpu", "--max-frames", "4", "--no-proxies", "--no-cache",
            "--floor", "auto", "--origin", "floor-centre", "--scale-camera-height", "1.6",
            "--export-points", str(tmp_path / "exp" / "points.glb"), "--export-colmap", str(tmp_path / "colmap")]
    for f in files:
        argv += ["--export-camera", str(f)]
    rc = cli.main(argv)
    err = capsys.readouterr().err
    worker.unload_engine()
    assert rc == 0, err
    for f in [*files, tmp_path / "exp" / "points.glb", tmp_path / "colmap" / "sparse" / "0" / "images.bin"]:
        assert f.is_file() and f.stat().st_size > 0, f
    bpy.ops.wm.open_mainfile(filepath=str(out))
    root = next(o for o in bpy.data.objects if o.get("vggt_root"))
    heights = [c.matrix_world.translation.z for c in setup_ops.cameras_of(root)]
    assert abs(np.mean(heights) - 1.6) < 1e-6 and min(heights) > 0
    # 4 of the 12 images (1, 5, 9, 12 on the plate's timeline): the .chan has every frame of the keyed range
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "exp" / "cam.chan")[:, 0], np.arange(1, 13))


@pytest.mark.parametrize("argv,needle", [
    (["--origin", "floor-centre"], "need --floor"),
    (["--floor", "auto", "--scale-camera-height", "0"], "must be > 0"),
    (["--export-camera", "cam.obj"], "use .abc"),
    (["--export-points", "p.ply"], ".glb"),
])
def test_headless_setup_option_errors(tmp_path, capsys, argv, needle):
    from vggt_blender.command_line import cli

    assert cli.main(["--images", str(tmp_path), "--out", str(tmp_path / "o.blend"), *argv]) == 1
    assert needle in capsys.readouterr().err


def test_shadow_catcher_on_the_floor_moves_with_the_root():
    root, _ = build(7)
    bpy.ops.vggt.set_floor(source="AUTO")
    assert bpy.ops.vggt.add_shadow_catcher() == {"FINISHED"}
    plane = next(o for o in bpy.data.objects if o.name.endswith("shadow catcher"))
    assert plane.is_shadow_catcher and not plane.hide_render and plane.parent == root
    bpy.context.view_layer.update()
    np.testing.assert_allclose(world_vertices(plane)[:, 2], 0.0, atol=1e-6)
    bpy.ops.vggt.set_scale(mode="CAMERA_HEIGHT", distance=1.6)
    bpy.context.view_layer.update()
    np.testing.assert_allclose(world_vertices(plane)[:, 2], 0.0, atol=1e-6)  # still the floor


def test_a_rebuild_keeps_the_floor_origin_and_scale_set_before_it():
    """*Re-solve* and *Re-import* rebuild the import (``runs.rebuild_import``): the new root takes the old one's
    Scene Setup, so the cameras keep their place and the shadow catcher the artist added stays on the floor."""
    from vggt_blender.runs.runs import rebuild_import

    root, _ = build(7)
    col = root.users_collection[0]
    assert bpy.ops.vggt.set_floor(source="AUTO") == {"FINISHED"}
    assert bpy.ops.vggt.set_origin(target="FLOOR") == {"FINISHED"}
    assert bpy.ops.vggt.set_scale(mode="CAMERA_HEIGHT", distance=1.6) == {"FINISHED"}
    assert bpy.ops.vggt.add_shadow_catcher() == {"FINISHED"}
    catcher = next(o for o in bpy.data.objects if o.name.endswith("shadow catcher"))
    bpy.context.view_layer.update()
    cams = {o["vggt_frame"]: (_world(o), o.data.clip_start, o.data.clip_end) for o in setup_ops.cameras_of(root)}

    settings = convert.ImportSettings.from_json(col["vggt_settings"])
    level, message = rebuild_import(bpy.context.scene, col, ("done", room_recon(7)[0], None), settings)
    assert level == "INFO", message
    bpy.context.view_layer.update()

    (new,) = [c for c in bpy.data.collections if "vggt_settings" in c]
    new_root = next(o for o in new.objects if o.get("vggt_root"))
    assert catcher.parent == new_root
    np.testing.assert_allclose(world_vertices(catcher)[:, 2], 0.0, atol=1e-6)  # still on the floor
    new_cams = setup_ops.cameras_of(new_root)
    assert len(new_cams) == S
    for cam in new_cams:  # same world (floor, origin, scale) and the clipping scaled with it
        world, clip_start, clip_end = cams[cam["vggt_frame"]]
        np.testing.assert_allclose(_world(cam), world, atol=1e-5)
        assert (cam.data.clip_start, cam.data.clip_end) == pytest.approx((clip_start, clip_end), rel=1e-5)
    assert np.mean([c.matrix_world.translation.z for c in new_cams]) == pytest.approx(1.6, abs=1e-5)
