"""Exports from Blender, read back by independent readers and compared with the animated camera at every frame.

Alembic, USD and FBX: Blender's importers in a fresh scene (world matrix within 1e-4, focal length within
1e-4 mm); .chan: parsed here and rebuilt with mathutils' ZXY Euler; GLB: pygltflib; COLMAP: pycolmap.
The root Empty is moved, turned and scaled first (as Set Floor / Scale do) so world space is not VGGT's.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(Path(__file__).parent)]

from mathutils import Euler, Matrix  # noqa: E402

from ext_helpers import write_images  # noqa: E402
from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert, export_ops  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_core import cache  # noqa: E402

S = 4
# Blender's importers that read a camera's focal length once instead of per frame (the files hold it
# per frame: Blender 5.2 reads the same files back animated).
LENS_STATIC_ON_IMPORT = {".abc": (5, 2), ".usda": (5, 0)}


def _import(tmp_path: Path):
    bpy.ops.wm.read_homefile(use_empty=True)
    images = write_images(tmp_path / "imgs", S, size=(96, 64))
    recon = make_recon([(96, 64)] * S, image_paths=[str(p) for p in sorted(images.glob("*.png"))])
    npz = cache.save(recon, tmp_path / "cache.npz")
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, conf_percentile=0.0),
                                bpy.context.scene, cache_path=str(npz))
    root = next(o for o in col.objects if o.get("vggt_root"))
    moved = Matrix.Translation((0.4, -1.0, 0.7)) @ Matrix.Rotation(0.3, 4, "Z") @ Matrix.Scale(2.5, 4)
    root.matrix_world = moved @ root.matrix_world
    bpy.context.view_layer.update()
    return root, recon


def _expected(root):
    scene = bpy.context.scene
    cam = export_ops.animated_camera(root)
    frames = export_ops.camera_frames(cam, scene)
    mats, lens = export_ops.sample_camera(scene, cam, frames)
    return frames, mats, lens


def _unscaled(m):
    m = m.copy()
    m[:3, :3] /= np.linalg.norm(m[:3, :3], axis=0)
    return m


def _reimport(path: Path, frames):
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = frames.start, frames.stop - 1
    if path.suffix == ".fbx":  # FBX time is frame / fps; Blender's importer adds 1 frame unless told not to
        bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)
    else:
        {".abc": bpy.ops.wm.alembic_import, ".usda": bpy.ops.wm.usd_import}[path.suffix](filepath=str(path))
    cams = [o for o in scene.objects if o.type == "CAMERA"]
    assert len(cams) == 1, [o.name for o in scene.objects]
    mats, lens = export_ops.sample_camera(scene, cams[0], frames)
    return mats, lens


@pytest.mark.parametrize("ext", [".abc", ".usda", ".fbx"])
@pytest.mark.parametrize("bake", [True, False])
def test_camera_round_trips_through_blender_exporters(tmp_path, ext, bake):
    root, _ = _import(tmp_path)
    frames, mats, lens = _expected(root)
    assert len(frames) == S and np.ptp(lens) > 1.0  # the focal length is animated
    objects_before = {o.name for o in bpy.data.objects}
    path = Path(export_ops.export_camera(bpy.context, root, str(tmp_path / f"cam{ext}"), bake_world=bake))
    assert {o.name for o in bpy.data.objects} == objects_before  # the temporary baked camera is gone
    got, got_lens = _reimport(path, frames)
    want = np.array([_unscaled(m) for m in mats]) if bake else mats
    np.testing.assert_allclose(got, want, atol=1e-4)
    if bpy.app.version[:2] < LENS_STATIC_ON_IMPORT.get(ext, (0, 0)):
        got_lens = got_lens[:1]
    np.testing.assert_allclose(got_lens, lens[:len(got_lens)], atol=1e-4)


def test_chan_parsed_matches_the_camera(tmp_path):
    root, _ = _import(tmp_path)
    frames, mats, lens = _expected(root)
    cam = export_ops.animated_camera(root)
    w, h = cam["vggt_resolution"]
    ax, ay = cam["vggt_pixel_aspect"]
    sensor = cam.data.sensor_width
    path = export_ops.export_camera(bpy.context, root, str(tmp_path / "cam.chan"))
    rows = np.loadtxt(path)
    assert rows.shape == (S, 8)
    np.testing.assert_array_equal(rows[:, 0], list(frames))
    y_up_to_z_up = np.array(Matrix.Rotation(math.pi / 2, 4, "X"))  # Nuke (Y up) -> Blender (Z up)
    for row, m, f in zip(rows, mats, lens):
        nuke = np.array(Matrix.Translation(row[1:4]) @ Euler(np.radians(row[4:7]), "ZXY").to_matrix().to_4x4())
        np.testing.assert_allclose(y_up_to_z_up @ nuke, _unscaled(m), atol=1e-5)
        focal = 0.5 * sensor * (h * ay / (w * ax)) / math.tan(math.radians(row[7]) / 2)
        assert abs(focal - f) < 1e-4


def test_points_glb_read_by_pygltflib(tmp_path):
    pygltflib = pytest.importorskip("pygltflib")
    root, _ = _import(tmp_path)
    cloud = export_ops.setup_ops.point_cloud_of(root)
    path = export_ops.export_points_glb(root, str(tmp_path / "points.glb"))
    g = pygltflib.GLTF2().load(path)
    prim = g.meshes[0].primitives[0]
    assert prim.mode == pygltflib.POINTS
    blob = g.binary_blob()

    def read(index):
        acc = g.accessors[index]
        view = g.bufferViews[acc.bufferView]
        return np.frombuffer(blob, "<f4", acc.count * 3, view.byteOffset + (acc.byteOffset or 0)).reshape(-1, 3)

    pos, col = read(prim.attributes.POSITION), read(prim.attributes.COLOR_0)
    world = export_ops.setup_ops.world_vertices(cloud)
    np.testing.assert_allclose(pos, np.c_[world[:, 0], world[:, 2], -world[:, 1]], atol=1e-5)  # Y up
    rgba = np.empty(len(world) * 4, np.float32)
    cloud.data.color_attributes["Col"].data.foreach_get("color", rgba)
    np.testing.assert_allclose(col, rgba.reshape(-1, 4)[:, :3], atol=1e-7)


def test_colmap_in_scene_world_read_by_pycolmap(tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    root, recon = _import(tmp_path)
    out = export_ops.export_colmap(root, str(tmp_path / "colmap"))
    model = pycolmap.Reconstruction(str(Path(out) / "sparse" / "0"))
    cams = sorted(export_ops.setup_ops.cameras_of(root), key=lambda o: o["vggt_frame"])
    assert model.num_reg_images() == S
    for image in model.images.values():
        i = int(image.image_id) - 1
        cfw = np.asarray(image.cam_from_world().matrix())
        world = _unscaled(np.array(cams[i].matrix_world))  # Blender camera: OpenCV axes with y, z negated
        np.testing.assert_allclose(cfw[:, :3].T @ np.diag([1.0, -1.0, -1.0]), world[:3, :3], atol=1e-5)
        np.testing.assert_allclose(-cfw[:, :3].T @ cfw[:, 3], world[:3, 3], atol=1e-4)


def test_export_operators_write_files_and_report_errors_in_one_line(tmp_path):
    from vggt_blender import setup_ops

    for cls in export_ops.classes:
        bpy.utils.register_class(cls)
    try:
        root, _ = _import(tmp_path)
        bpy.context.view_layer.objects.active = root
        assert bpy.ops.vggt.export_camera(filepath=str(tmp_path / "op.chan")) == {"FINISHED"}
        assert bpy.ops.vggt.export_points(filepath=str(tmp_path / "op.glb")) == {"FINISHED"}
        assert bpy.ops.vggt.export_colmap(directory=str(tmp_path / "op_colmap")) == {"FINISHED"}
        assert (tmp_path / "op.chan").is_file() and (tmp_path / "op.glb").is_file()
        assert (tmp_path / "op_colmap" / "sparse" / "0" / "cameras.bin").is_file()
        with pytest.raises(RuntimeError, match="unknown camera format '.obj'"):
            bpy.ops.vggt.export_camera(filepath=str(tmp_path / "cam.obj"))
        bpy.data.objects.remove(export_ops.animated_camera(root))
        with pytest.raises(RuntimeError, match="no animated camera"):
            bpy.ops.vggt.export_camera(filepath=str(tmp_path / "cam.abc"))
        assert not (tmp_path / "cam.abc").exists() and setup_ops.find_root(bpy.context) == root
    finally:
        for cls in reversed(export_ops.classes):
            bpy.utils.unregister_class(cls)


@pytest.mark.parametrize("ext", [".abc", ".usda", ".fbx", ".chan"])
def test_zoom_focal_keys_round_trip(tmp_path, ext):
    from solve_shots import make_shot, shot_recon
    from vggt_core.solve import solve

    bpy.ops.wm.read_homefile(use_empty=True)
    shot = make_shot("tripod", frames=6, tracks=60, size=(640, 360), focal_px=500.0, zoom=1.5, query_frames=2)
    recon = solve(shot_recon(shot), lens="zoom")
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, point_cloud=False),
                                bpy.context.scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    frames, mats, lens = _expected(root)
    sensor = export_ops.animated_camera(root).data.sensor_width
    np.testing.assert_allclose(lens, recon.intrinsics[:, 0, 0] * sensor / 640, rtol=1e-5)  # keyed per frame
    assert lens[-1] / lens[0] > 1.3
    path = Path(export_ops.export_camera(bpy.context, root, str(tmp_path / f"zoom{ext}")))
    if ext == ".chan":
        rows = np.loadtxt(path)
        got_lens = 0.5 * sensor * (360 / 640) / np.tan(np.radians(rows[:, 7]) / 2)
    else:
        got_lens = _reimport(path, frames)[1]
        if bpy.app.version[:2] < LENS_STATIC_ON_IMPORT.get(ext, (0, 0)):
            got_lens = got_lens[:1]
    np.testing.assert_allclose(got_lens, lens[:len(got_lens)], atol=1e-4)
