"""Importer tests against real bpy (headless): cameras, animation, points + GN, proxies, rollback.

Runs under the main venv (bpy 5.0) and under .venv-bpy42 (bpy 4.2 LTS; see test_bpy42.py). Needs no
torch: the Reconstructions are analytic (tests/synth_recon.py).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Vector  # noqa: E402

from synth_recon import make_recon, project  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.builders import scene as scene_mod  # noqa: E402
from vggt_blender.builders.cameras import make_active_camera  # noqa: E402
from vggt_blender.builders.datablocks import Ledger  # noqa: E402
from vggt_blender.builders.points import (  # noqa: E402
    build_point_cloud, evaluated_point_count, point_attribute, set_points_inputs,
)

ONLY_CAMERAS = dict(point_cloud=False, depth_proxies=False)
DATA_COLLECTIONS = ("objects", "meshes", "cameras", "materials", "node_groups", "images", "movieclips",
                    "actions", "collections")


def _update(sc):
    for vl in sc.view_layers:
        vl.update()


def _pixels(sc, cam_obj, pts_blender_world):
    """Project Blender-world points with the camera as Blender sees it -> continuous pixels, depth."""
    make_active_camera(sc, cam_obj)
    w, h = sc.render.resolution_x, sc.render.resolution_y
    out = np.array([world_to_camera_view(sc, cam_obj, Vector(p))[:] for p in pts_blender_world])
    return np.stack([out[:, 0] * w, (1 - out[:, 1]) * h], 1), out[:, 2]


def _to_blender_world(root, xw):
    m = np.array(root.matrix_world)
    return xw @ m[:3, :3].T + m[:3, 3]


@pytest.mark.parametrize("scale", [1.0, 1.7])
def test_frame_cameras_reproject_opencv(scene, scale):
    sizes = [(640, 480), (480, 640), (1000, 300), (640, 480)]
    fxfy = [(40.0, 34.0), (30.0, 37.0), (45.0, 45.0), (52.0, 41.0)]
    recon = make_recon(sizes, fx_fy=fxfy, pp_offset=(0.08, -0.05))
    col = import_reconstruction(recon, convert.ImportSettings(**ONLY_CAMERAS, animated_camera=False, scale=scale,
                                                              set_scene=False), scene)
    _update(scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    # the root is the Z-up rotation (times scale)
    np.testing.assert_allclose(np.array(root.matrix_world), convert.root_matrix(scale), atol=1e-6)
    cams = sorted((o for o in col.all_objects if o.type == "CAMERA"), key=lambda o: o["vggt_frame"])
    assert len(cams) == len(sizes)
    rng = np.random.default_rng(3)
    for i, cam in enumerate(cams):
        assert tuple(cam["vggt_resolution"]) == sizes[i]
        assert cam.data.sensor_fit == "HORIZONTAL"
        # known world points: depth-map points of this frame plus random points in front of it
        xw = recon.points_from_depth[i].reshape(-1, 3)[rng.choice(28 * 42, 40, replace=False)].astype(np.float64)
        uv_cv, z_cv = project(recon.intrinsics[i], recon.extrinsics[i], xw)
        uv_bl, z_bl = _pixels(scene, cam, _to_blender_world(root, xw))
        err = np.abs(uv_bl - uv_cv).max()
        assert err < 0.01, f"frame {i} {sizes[i]}: max reprojection error {err:.4g} px"
        np.testing.assert_allclose(z_bl, z_cv * scale, rtol=1e-5)


def test_animated_camera_matches_frame_cameras(scene):
    recon = make_recon([(640, 360)] * 5, fx_fy=[(40.0 + 2 * i, 36.0 + 1.8 * i) for i in range(5)])
    st = convert.ImportSettings(**ONLY_CAMERAS, set_scene=True, frame_start_at=11)  # Frame Numbers: Start At 11
    col = import_reconstruction(recon, st, scene)
    anim = next(o for o in col.objects if o.type == "CAMERA")
    frame_cams = sorted((o for o in col.children[0].objects), key=lambda o: o["vggt_frame"])
    root = next(o for o in col.objects if o.get("vggt_root"))
    assert scene.camera == anim and (scene.frame_start, scene.frame_end) == (11, 15)
    assert (scene.render.resolution_x, scene.render.resolution_y) == (640, 360)
    xw = recon.points_from_depth[2].reshape(-1, 3)[::37].astype(np.float64)
    for i, cam in enumerate(frame_cams):
        scene.frame_set(11 + i)
        _update(scene)
        np.testing.assert_allclose(np.array(anim.matrix_world), np.array(cam.matrix_world), atol=2e-5)
        assert anim.data.lens == pytest.approx(cam.data.lens, rel=1e-6)
        assert anim.data.shift_x == pytest.approx(cam.data.shift_x, abs=1e-7)
        uv_a, _ = _pixels(scene, anim, _to_blender_world(root, xw))
        uv_f, _ = _pixels(scene, cam, _to_blender_world(root, xw))
        assert np.abs(uv_a - uv_f).max() < 0.01
    # LINEAR keys: halfway between two keys the camera is halfway between them
    scene.frame_set(12, subframe=0.5)
    _update(scene)
    mid = 0.5 * (np.array(frame_cams[1].matrix_world)[:3, 3] + np.array(frame_cams[2].matrix_world)[:3, 3])
    np.testing.assert_allclose(np.array(anim.matrix_world)[:3, 3], mid, atol=1e-5)
    assert anim.data.animation_data is not None  # lens varies across frames -> keyed on the camera data


def test_point_threshold_and_attribute_roundtrip(scene):
    recon = make_recon([(640, 480)] * 3)
    st = convert.ImportSettings(per_frame_cameras=False, animated_camera=False, depth_proxies=False,
                                conf_percentile=20.0, max_points=None, set_scene=False)
    col = import_reconstruction(recon, st, scene)
    obj = next(o for o in col.objects if o.type == "MESH")
    expected = convert.point_cloud_arrays(recon, st)
    assert len(obj.data.vertices) == len(expected) > 1000
    np.testing.assert_array_equal(point_attribute(obj, "position"), expected.positions)
    np.testing.assert_array_equal(point_attribute(obj, "Col"), expected.colors)
    np.testing.assert_array_equal(point_attribute(obj, "confidence"), expected.confidence)
    np.testing.assert_array_equal(point_attribute(obj, "conf_percentile"), expected.conf_percentile)
    np.testing.assert_array_equal(point_attribute(obj, "frame"), expected.frame)
    rank = point_attribute(obj, "conf_percentile")
    for t in (0.0, 20.0, 37.25, 50.0, 90.0, 100.5):
        set_points_inputs(obj, threshold=t)
        n = evaluated_point_count(obj)
        assert n == int((rank >= np.float32(t)).sum()), t
    assert evaluated_point_count(obj) == 0  # 100.5 is above every rank
    mat = obj.data.materials[0]
    attr_nodes = [n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeAttribute"]
    assert attr_nodes and attr_nodes[0].attribute_name == "Col"


def test_build_point_cloud_exact_arrays(scene):
    rng = np.random.default_rng(5)
    n = 5000
    pts = convert.point_arrays(rng.normal(size=(n, 3)), rng.integers(0, 256, (n, 3), dtype=np.uint8),
                               1 + rng.random(n) * 9, rng.integers(0, 7, n))
    col = bpy.data.collections.new("t")
    scene.collection.children.link(col)
    root = bpy.data.objects.new("root", None)
    col.objects.link(root)
    obj = build_point_cloud(Ledger(), pts, "t", col, root, radius=0.02, threshold=0.0)
    assert evaluated_point_count(obj) == n
    for name, arr in (("position", pts.positions), ("Col", pts.colors), ("confidence", pts.confidence),
                      ("conf_percentile", pts.conf_percentile), ("frame", pts.frame)):
        np.testing.assert_array_equal(point_attribute(obj, name), arr, err_msg=name)
    set_points_inputs(obj, threshold=50.0)
    assert evaluated_point_count(obj) == int((pts.conf_percentile >= 50).sum())


def _write_png(path: str, w: int, h: int, rgb=(0.2, 0.5, 0.8)) -> None:
    img = bpy.data.images.new("tmpimg", w, h)
    img.pixels.foreach_set(np.tile(np.array([*rgb, 1.0], np.float32), w * h))
    img.filepath_raw = path
    img.file_format = "PNG"
    img.save()
    bpy.data.images.remove(img)


def test_depth_proxies_faces_uvs_and_textures(scene, tmp_path):
    paths = [str(tmp_path / f"shot_{n:04d}.png") for n in (7, 8, 9)]
    for p in paths:
        _write_png(p, 64, 48)
    recon = make_recon([(64, 48)] * 3, image_paths=paths)
    st = convert.ImportSettings(point_cloud=False, proxy_every=1, proxy_stride=1, proxy_conf_percentile=0.0,
                                set_scene=False)
    col = import_reconstruction(recon, st, scene)
    _update(scene)
    proxies = sorted((o for o in col.all_objects if o.type == "MESH"), key=lambda o: o["vggt_frame"])
    assert [o["vggt_frame"] for o in proxies] == [0, 1, 2]
    hm, wm = recon.model_size
    for obj in proxies:
        i = obj["vggt_frame"]
        me = obj.data
        pm = convert.depth_proxy_mesh(recon, i, 1, 0.05, 0.0)
        assert len(me.polygons) == pm.num_faces == (hm - 1) * (wm - 2)
        assert not me.validate()
        # no face spans the depth step: per-face camera depth ratio stays small
        co = np.empty(len(me.vertices) * 3, np.float32)
        me.vertices.foreach_get("co", co)
        e = recon.extrinsics[i].astype(np.float64)
        z = (co.reshape(-1, 3) @ e[:, :3].T + e[:, 3])[:, 2]
        lv = np.empty(len(me.loops), np.int32)
        me.loops.foreach_get("vertex_index", lv)
        fz = z[lv.reshape(-1, 4)]
        assert ((fz.max(1) - fz.min(1)) <= 0.05 * fz.min(1) + 1e-6).all()
        # Blender's own face normals point at the camera (VGGT-world normals; the root only rotates)
        nrm = np.empty(len(me.polygons) * 3, np.float32)
        me.polygons.foreach_get("normal", nrm)
        ctr = np.empty(len(me.polygons) * 3, np.float32)
        me.polygons.foreach_get("center", ctr)
        cam_c = -e[:, :3].T @ e[:, 3]
        assert (np.einsum("ij,ij->i", nrm.reshape(-1, 3), cam_c - ctr.reshape(-1, 3)) > 0).all()
        uv = np.empty(len(me.loops) * 2, np.float32)
        me.uv_layers["UVMap"].data.foreach_get("uv", uv)
        assert uv.min() >= 0.0 and uv.max() <= 1.0
        np.testing.assert_allclose(uv.reshape(-1, 2), pm.uvs, atol=1e-6)
        tex = [n for n in me.materials[0].node_tree.nodes if n.bl_idname == "ShaderNodeTexImage"][0]
        assert os.path.samefile(bpy.path.abspath(tex.image.filepath), paths[i])
    # stills: each per-frame camera shows its photo; the numbered sequence becomes the animated plate
    cams = sorted((o for o in col.children[0].objects), key=lambda o: o["vggt_frame"])
    for i, cam in enumerate(cams):
        assert os.path.samefile(bpy.path.abspath(cam.data.background_images[0].image.filepath), paths[i])
    anim = next(o for o in col.objects if o.type == "CAMERA")
    bg = anim.data.background_images[0]
    assert bg.image.source == "SEQUENCE" and bg.image_user.frame_offset == 7 - 1
    assert bg.image_user.frame_start == 7  # shot_0007 on its own frame number
    # the stills are shared by backgrounds and proxy textures and stay single images; the plate is its own
    assert len(bpy.data.images) == 4 and cams[0].data.background_images[0].image.source == "FILE"


def _counts():
    return {k: len(getattr(bpy.data, k)) for k in DATA_COLLECTIONS}


def test_failure_mid_import_leaves_no_datablocks(scene, tmp_path, monkeypatch):
    paths = [str(tmp_path / f"f{n}.png") for n in range(4)]
    for p in paths:
        _write_png(p, 64, 48)
    recon = make_recon([(64, 48)] * 4, image_paths=paths)
    r = scene.render
    before_scene = (r.resolution_x, r.resolution_y, r.pixel_aspect_y, scene.frame_start, scene.frame_end, scene.camera)
    before = _counts()
    real = scene_mod.build_depth_proxy
    calls = []

    def failing(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("forced failure")
        return real(*a, **kw)

    monkeypatch.setattr(scene_mod, "build_depth_proxy", failing)
    with pytest.raises(RuntimeError, match="forced failure"):
        import_reconstruction(recon, convert.ImportSettings(proxy_every=1), scene)
    assert _counts() == before
    assert len(scene.collection.children) == 0

    # a failure after the scene settings were changed restores them too
    monkeypatch.setattr(scene_mod, "build_depth_proxy", real)

    real_cfg = scene_mod._configure_scene

    def configure_then_fail(*a, **kw):
        real_cfg(*a, **kw)
        raise RuntimeError("late failure")

    monkeypatch.setattr(scene_mod, "_configure_scene", configure_then_fail)
    with pytest.raises(RuntimeError, match="late failure"):
        import_reconstruction(recon, convert.ImportSettings(proxy_every=2), scene)
    assert _counts() == before
    assert (r.resolution_x, r.resolution_y, r.pixel_aspect_y, scene.frame_start, scene.frame_end,
            scene.camera) == before_scene


def test_collection_properties_for_reimport(scene):
    recon = make_recon([(64, 48)] * 2)
    st = convert.ImportSettings(**ONLY_CAMERAS, proxy_frames=(1,), scale=2.0)
    col = import_reconstruction(recon, st, scene, name="shot A", cache_path="/tmp/x.npz")
    assert col.name == "shot A" and col.name in scene.collection.children
    assert convert.ImportSettings.from_json(col["vggt_settings"]) == st
    assert col["vggt_cache"] == "/tmp/x.npz" and col["vggt_num_frames"] == 2
    col2 = import_reconstruction(recon, st, scene, name="shot A")
    assert col2.name == "shot A.001"
    assert all(o.name.startswith("shot A.001") for o in col2.all_objects)


def test_long_multibyte_folder_name_keeps_children_apart(scene):
    """A 100-character folder name (3- and 4-byte characters) exceeds Blender's name limit (63 bytes on
    4.2, 255 from 5.0): the collection name is shortened on a character boundary so that every child
    keeps its own "<collection> <suffix>" name, also for a second import (".001")."""
    folder = ("撮影🎥ショット-" * 15)[:100]
    recon = make_recon([(64, 48)] * 3, image_paths=[f"/nonexistent/{folder}/f{i}.png" for i in range(3)])
    limit = convert.max_name_bytes(bpy.app.version)
    for expected_suffix in ("", ".001"):
        before = {kind: set(getattr(bpy.data, kind).keys()) for kind in DATA_COLLECTIONS}
        col = import_reconstruction(recon, convert.ImportSettings(proxy_every=1), scene)
        assert col.name.endswith(expected_suffix)
        base = col.name[:len(col.name) - len(expected_suffix)]
        assert ("VGGT " + folder).startswith(base) and len(base) > 10
        new = [n for kind in DATA_COLLECTIONS for n in getattr(bpy.data, kind).keys() if n not in before[kind]]
        assert all(len(n.encode()) <= limit and n.startswith(col.name) for n in new), new
        suffixes = {n[len(col.name):] for n in bpy.data.objects.keys() if n in new}
        assert {"", " camera", " points", " cam 0000", " cam 0002", " proxy 0002"} <= suffixes, suffixes
        assert {n[len(col.name):] for n in col.children.keys()} == {" cameras", " proxies"}


def test_movie_plate(scene, tmp_path):
    av = pytest.importorskip("av", reason="PyAV is needed to write the test video")
    path = str(tmp_path / "clip.mp4")
    with av.open(path, "w") as out:
        st = out.add_stream("libx264", rate=24)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for k in range(30):
            fr = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * k, np.uint8), format="rgb24")
            out.mux(st.encode(fr))
        out.mux(st.encode())
    recon = make_recon([(64, 48)] * 3, video=path, indices=[0, 10, 20])
    scene.frame_start = 5
    scene.render.fps = 30
    col = import_reconstruction(recon, convert.ImportSettings(point_cloud=False, proxy_every=1), scene)
    anim = next(o for o in col.objects if o.type == "CAMERA")
    bg = anim.data.background_images[0]
    assert bg.source == "MOVIE_CLIP" and bg.clip.frame_start == 5
    assert (scene.frame_start, scene.frame_end) == (5, 25)  # keys at 5 + source index
    assert scene.render.fps == 24
    fc = [o for o in col.all_objects if o.type == "MESH" and o["vggt_frame"] == 1][0]
    tex = [n for n in fc.data.materials[0].node_tree.nodes if n.bl_idname == "ShaderNodeTexImage"][0]
    assert tex.image.source == "MOVIE" and tex.image_user.frame_offset == 10


def _write_grey_movie(path: str, n: int = 30) -> None:
    """n frames of flat grey, frame k at level 8k (distinct, so a render tells which one shows)."""
    av = pytest.importorskip("av", reason="PyAV is needed to write the test video")
    with av.open(path, "w") as out:
        st = out.add_stream("libx264", rate=24)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        st.options = {"crf": "0"}
        for k in range(n):
            out.mux(st.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * k, np.uint8), format="rgb24")))
        out.mux(st.encode())


def _ortho_cycles_view(scene, ortho_scale: float, samples: int, size: tuple[int, int]) -> None:
    """An orthographic camera 5 units above the origin looking down -Z; Cycles CPU, Standard view."""
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    cam.data.type, cam.data.ortho_scale = "ORTHO", ortho_scale
    cam.location = (0, 0, 5)
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", samples
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.view_settings.view_transform = "Standard"


def test_video_proxy_texture_holds_its_frame_in_a_render(scene, tmp_path):
    """Cycles render of a quad textured by build_frame_material for video frame 10: the movie image
    must show frame 10 (grey 80) whatever the scene frame."""
    from vggt_blender.builders.depth_mesh import build_frame_material
    from vggt_core.reconstruction import FrameInfo

    path = str(tmp_path / "grey.mp4")
    _write_grey_movie(path)
    mat = build_frame_material(Ledger(), "m", FrameInfo(path, 10, 10 / 24, 64, 48))
    me = bpy.data.meshes.new("quad")
    me.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)], [], [(0, 1, 2, 3)])
    me.uv_layers.new(name="UVMap").data.foreach_set("uv", [0, 0, 1, 0, 1, 1, 0, 1])
    me.materials.append(mat)
    scene.collection.objects.link(bpy.data.objects.new("quad", me))
    _ortho_cycles_view(scene, ortho_scale=1.0, samples=1, size=(8, 8))
    scene.render.image_settings.file_format = "PNG"
    for f in (0, 1, 23):
        scene.frame_set(f)
        scene.render.filepath = str(tmp_path / f"r{f}.png")
        bpy.ops.render.render(write_still=True)
        img = bpy.data.images.load(scene.render.filepath)
        px = np.empty(len(img.pixels), np.float32)
        img.pixels.foreach_get(px)
        grey = px.reshape(-1, 4)[:, :3].mean() * 255
        assert abs(grey - 80) < 4, f"scene frame {f}: rendered grey {grey:.1f}, expected 80 (movie frame 10)"


def test_point_material_renders_point_colours(scene, tmp_path):
    """Cycles render of two big points: the left/right halves show their sRGB colours (the "Col"
    attribute reaches the material through Mesh to Points)."""
    rgb = np.array([[200, 40, 10], [20, 90, 230]], np.uint8)
    pts = convert.point_arrays(np.array([[-0.5, 0, 0], [0.5, 0, 0]]), rgb, np.array([5.0, 5.0]), np.array([0, 0]))
    col = bpy.data.collections.new("t")
    scene.collection.children.link(col)
    root = bpy.data.objects.new("root", None)
    col.objects.link(root)
    build_point_cloud(Ledger(), pts, "t", col, root, radius=0.45)
    _ortho_cycles_view(scene, ortho_scale=2.0, samples=4, size=(16, 8))
    scene.render.filepath = str(tmp_path / "pts.png")
    bpy.ops.render.render(write_still=True)
    img = bpy.data.images.load(scene.render.filepath)
    px = np.empty(len(img.pixels), np.float32)
    img.pixels.foreach_get(px)
    px = px.reshape(8, 16, 4)[..., :3] * 255
    # Cycles brightens the spheres slightly towards each other (up to ~+25 at the rims), so compare the
    # median over each sphere's outer half; the two colours are > 150 apart, so a wrong colour source fails.
    np.testing.assert_allclose(np.median(px[3:5, 2:5].reshape(-1, 3), 0), [200, 40, 10], atol=12)
    np.testing.assert_allclose(np.median(px[3:5, 12:15].reshape(-1, 3), 0), [20, 90, 230], atol=12)
