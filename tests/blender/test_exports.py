"""Exports from Blender, read back by independent readers and compared with the animated camera at every frame.

Alembic, USD and FBX: Blender's importers in a fresh scene (world matrix within 1e-4, focal length within
1e-4 mm); .chan: parsed here and rebuilt with mathutils' ZXY Euler; GLB: pygltflib; COLMAP: pycolmap.
The root Empty is moved, turned and scaled first (as Set Floor / Scale do) so world space is not VGGT's.
"""
from __future__ import annotations

import dataclasses
import math
import os
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
from vggt_blender import convert  # noqa: E402
from vggt_blender.deliver.camera import export_camera  # noqa: E402
from vggt_blender.deliver.imported import animated_camera, camera_frames, lens_of, sample_camera  # noqa: E402
from vggt_blender.deliver.lens import export_lens  # noqa: E402
from vggt_blender.deliver.points import export_colmap, export_points_glb  # noqa: E402
from vggt_blender.builders.points import point_cloud_of, world_vertices  # noqa: E402
from vggt_blender.operators import export_ops, setup_ops  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_core import Lens  # noqa: E402
from vggt_core.run import cache  # noqa: E402

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
    cam = animated_camera(root)
    frames = camera_frames(cam, scene)
    mats, lens = sample_camera(scene, cam, frames)
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
    mats, lens = sample_camera(scene, cams[0], frames)
    return mats, lens


@pytest.mark.parametrize("ext", [".abc", ".usda", ".fbx"])
@pytest.mark.parametrize("bake", [True, False])
def test_camera_round_trips_through_blender_exporters(tmp_path, ext, bake):
    root, _ = _import(tmp_path)
    frames, mats, lens = _expected(root)
    assert len(frames) == S and np.ptp(lens) > 1.0  # the focal length is animated
    objects_before = {o.name for o in bpy.data.objects}
    path = Path(export_camera(bpy.context, root, str(tmp_path / f"cam{ext}"), bake_world=bake))
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
    cam = animated_camera(root)
    w, h = cam["vggt_resolution"]
    ax, ay = cam["vggt_pixel_aspect"]
    sensor = cam.data.sensor_width
    path = export_camera(bpy.context, root, str(tmp_path / "cam.chan"))
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
    cloud = point_cloud_of(root)
    path = export_points_glb(root, str(tmp_path / "points.glb"))
    g = pygltflib.GLTF2().load(path)
    prim = g.meshes[0].primitives[0]
    assert prim.mode == pygltflib.POINTS
    blob = g.binary_blob()

    def read(index):
        acc = g.accessors[index]
        view = g.bufferViews[acc.bufferView]
        return np.frombuffer(blob, "<f4", acc.count * 3, view.byteOffset + (acc.byteOffset or 0)).reshape(-1, 3)

    pos, col = read(prim.attributes.POSITION), read(prim.attributes.COLOR_0)
    world = world_vertices(cloud)
    np.testing.assert_allclose(pos, np.c_[world[:, 0], world[:, 2], -world[:, 1]], atol=1e-5)  # Y up
    rgba = np.empty(len(world) * 4, np.float32)
    cloud.data.color_attributes["Col"].data.foreach_get("color", rgba)
    np.testing.assert_allclose(col, rgba.reshape(-1, 4)[:, :3], atol=1e-7)


def test_colmap_in_scene_world_read_by_pycolmap(tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    root, recon = _import(tmp_path)
    out = export_colmap(root, str(tmp_path / "colmap"))
    model = pycolmap.Reconstruction(str(Path(out) / "sparse" / "0"))
    cams = sorted(setup_ops.cameras_of(root), key=lambda o: o["vggt_frame"])
    assert model.num_reg_images() == S
    for image in model.images.values():
        i = int(image.image_id) - 1
        cfw = np.asarray(image.cam_from_world().matrix())
        world = _unscaled(np.array(cams[i].matrix_world))  # Blender camera: OpenCV axes with y, z negated
        np.testing.assert_allclose(cfw[:, :3].T @ np.diag([1.0, -1.0, -1.0]), world[:3, :3], atol=1e-5)
        np.testing.assert_allclose(-cfw[:, :3].T @ cfw[:, 3], world[:3, 3], atol=1e-4)


def test_export_operators_write_files_and_report_errors_in_one_line(tmp_path):
    from vggt_blender.operators import setup_ops

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
        assert bpy.ops.vggt.export_lens(directory=str(tmp_path / "op_lens"), undistort_plate=True) == {"FINISHED"}
        assert {"lens.json", "stmap_undistort.exr", "stmap_redistort.exr"} <= set(os.listdir(tmp_path / "op_lens"))
        assert len(os.listdir(tmp_path / "op_lens" / "undistorted")) == S
        with pytest.raises(RuntimeError, match="unknown camera format '.obj'"):
            bpy.ops.vggt.export_camera(filepath=str(tmp_path / "cam.obj"))
        bpy.data.objects.remove(animated_camera(root))
        with pytest.raises(RuntimeError, match="no animated camera"):
            bpy.ops.vggt.export_camera(filepath=str(tmp_path / "cam.abc"))
        assert not (tmp_path / "cam.abc").exists() and setup_ops.find_root(bpy.context) == root
    finally:
        for cls in reversed(export_ops.classes):
            bpy.utils.unregister_class(cls)


def _import_sequence(tmp_path: Path, frame_start_at=None, solve=None, lens=None):
    """Every other file of a 1001-based sequence (shot.1001.png, shot.1003.png, ...): 4 reconstructed frames."""
    from PIL import Image

    bpy.ops.wm.read_homefile(use_empty=True)
    folder = tmp_path / "plate"
    folder.mkdir(parents=True)
    paths = []
    for n in range(1001, 1008):
        Image.new("RGB", (96, 64), (n % 255, 40, 90)).save(folder / f"shot.{n}.png")
        paths.append(str(folder / f"shot.{n}.png"))
    recon = make_recon([(96, 64)] * S, image_paths=paths[::2], indices=[0, 2, 4, 6], fx_fy=[(40.0, 40.0)] * S)
    if solve is not None:
        recon = dataclasses.replace(recon, solve=solve, lens=lens)
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, conf_percentile=0.0,
                                                              frame_start_at=frame_start_at), bpy.context.scene)
    return next(o for o in col.objects if o.get("vggt_root")), col


def test_exports_on_the_plates_frame_numbers(tmp_path):
    root, col = _import_sequence(tmp_path)
    assert list(col["vggt_frame_numbers"]) == [1001, 1003, 1005, 1007]
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (1001, 1007)
    rows = np.loadtxt(export_camera(bpy.context, root, str(tmp_path / "cam.chan")))
    np.testing.assert_array_equal(rows[:, 0], range(1001, 1008))
    fbx = Path(export_camera(bpy.context, root, str(tmp_path / "cam.fbx")))
    # unsimplified: every channel (constant scale too) keyed at each of the 7 plate frames, read with
    # Blender's own FBX parser
    import addon_utils

    addon_utils.enable("io_scene_fbx")
    from io_scene_fbx import parse_fbx

    objects = next(e for e in parse_fbx.parse(str(fbx))[0].elems if e.id == b"Objects")
    keys = [len(next(c for c in e.elems if c.id == b"KeyTime").props[0]) for e in objects.elems
            if e.id == b"AnimationCurve"]
    assert len(keys) >= 9 and set(keys) == {7}, keys
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(fbx), anim_offset=0.0, use_custom_props=True)
    cam = next(o for o in bpy.context.scene.objects if o.type == "CAMERA")
    assert tuple(round(f) for f in cam.animation_data.action.frame_range) == (1001, 1007)
    # which of those frames were reconstructed and which interpolated
    assert cam["vggt_reconstructed_frames"] == "1001 1003 1005 1007"
    assert cam["vggt_interpolated_frames"] == "1002 1004 1006"


def test_frame_numbers_start_at(tmp_path):
    root, col = _import_sequence(tmp_path, frame_start_at=1)
    assert list(col["vggt_frame_numbers"]) == [1, 3, 5, 7]
    rows = np.loadtxt(export_camera(bpy.context, root, str(tmp_path / "cam.chan")))
    np.testing.assert_array_equal(rows[:, 0], range(1, 8))


def test_lens_package_from_the_solve_on_the_plates_numbers(tmp_path):
    import json

    root, col = _import_sequence(tmp_path)
    base = make_recon([(96, 64)] * S, image_paths=[str(tmp_path / "plate" / f"shot.{n}.png") for n in (1001, 1003, 1005, 1007)],
                      indices=[0, 2, 4, 6], fx_fy=[(40.0, 40.0)] * S)
    recon = dataclasses.replace(base, solve={"lens": "shared"}, lens=Lens.fixed("RADIAL", S, -0.1, 0.01))
    files = export_lens(root, str(tmp_path / "lens"), recon, plate=True)
    meta = json.loads((tmp_path / "lens" / "lens.json").read_text())
    assert meta["model"] == "RADIAL" and (meta["k1"], meta["k2"]) == (-0.1, 0.01) and meta["overscan"] > 1.0
    assert sorted(os.listdir(tmp_path / "lens" / "undistorted")) == [f"undistorted.{n}.png" for n in (1001, 1003, 1005, 1007)]
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in files)


def test_camera_exports_carry_the_lens_package(tmp_path):
    import json

    root, col = _import_sequence(tmp_path)
    usda = Path(export_camera(bpy.context, root, str(tmp_path / "out" / "shot.usda")))
    lens_json = tmp_path / "out" / "shot_lens" / "lens.json"
    assert json.loads(lens_json.read_text())["model"] == "PINHOLE"  # no solve: the identity lens
    assert {"stmap_undistort.exr", "stmap_redistort.exr"} <= set(os.listdir(lens_json.parent))
    text = usda.read_text()
    assert "userProperties:vggt_lens_package" in text and str(lens_json) in text
    assert "userProperties:vggt_interpolated_frames" in text and '"1002 1004 1006"' in text
    export_camera(bpy.context, root, str(tmp_path / "out" / "tree.usda"), bake_world=False)
    assert "vggt_lens_package" not in animated_camera(root)  # only while exporting
    assert str(tmp_path / "out" / "tree_lens" / "lens.json") in (tmp_path / "out" / "tree.usda").read_text()
    export_camera(bpy.context, root, str(tmp_path / "out" / "shot.chan"))
    assert (tmp_path / "out" / "shot_lens" / "lens.json").is_file()
    # a solved lens: stored with the import, so the export needs no cache
    solve = {"lens": "shared", "focal_before_px": 40.0, "focal_after_px": 40.0}
    root, col = _import_sequence(tmp_path / "solved", solve=solve, lens=Lens.fixed("SIMPLE_RADIAL", S, k1=-0.15))
    assert not col["vggt_cache"]
    export_camera(bpy.context, root, str(tmp_path / "solved" / "shot.chan"))
    meta = json.loads((tmp_path / "solved" / "shot_lens" / "lens.json").read_text())
    assert (meta["model"], meta["k1"]) == ("SIMPLE_RADIAL", -0.15) and meta["overscan"] > 1.0


def _read_nk(text: str) -> dict:
    """The nodes of a .nk script by name, each with its knobs (raw text) and inputs (node names, None for
    ``push 0``), through Nuke's documented TCL node stack (``inputs N`` takes the top N, the top as input 0;
    ``set``/``push``). A stand-in of Nuke's script reader: it checks only our side of that contract."""
    import re

    nodes, stack, names = {}, [], {}
    lines = iter(text.splitlines())
    for line in lines:
        if m := re.fullmatch(r"set (\S+) \[stack 0\]", line):
            names[m.group(1)] = stack[-1]
        elif m := re.fullmatch(r"push (\S+)", line):
            stack.append(None if m.group(1) == "0" else names[m.group(1)[1:]])
        elif m := re.fullmatch(r"(\w+) \{", line):
            knobs = {}
            for body in lines:
                if body == "}":
                    break
                key, _, value = body.strip().partition(" ")
                knobs[key] = value
            n = int(knobs.get("inputs", 1))
            inputs = [stack.pop() for _ in range(n)]  # the top first: input 0
            node = {"class": m.group(1), "knobs": knobs, "inputs": inputs}
            if m.group(1) != "Root":
                nodes[knobs["name"]] = node
                stack.append(knobs["name"])
    return nodes


def _curve_values(text: str) -> list[list[float]]:
    import re

    return [[float(v) for v in re.findall(r"x\d+ (\S+)", c)] for c in re.findall(r"\{curve ([^}]*)\}", text)]


def test_nuke_qc_script_structure(tmp_path):
    """Nuke is not available here: the script is read with the stand-in above and compared with the .chan."""
    root, col = _import_sequence(tmp_path)
    nk = Path(export_camera(bpy.context, root, str(tmp_path / "qc" / "shot.nk")))
    export_camera(bpy.context, root, str(tmp_path / "qc" / "shot.chan"))
    nodes = _read_nk(nk.read_text())
    plate, stmap, undistort = nodes["Plate"], nodes["STMapUndistort"], nodes["Undistort"]
    assert plate["knobs"]["file"] == "{" + str(tmp_path / "plate" / "shot.####.png") + "}"
    assert (plate["knobs"]["first"], plate["knobs"]["last"]) == ("1001", "1007") and "frame_mode" not in plate["knobs"]
    assert stmap["knobs"]["file"] == "{" + str(tmp_path / "qc" / "shot_lens" / "stmap_undistort.exr") + "}"
    assert stmap["knobs"]["raw"] == "true" and (tmp_path / "qc" / "shot_lens" / "stmap_undistort.exr").is_file()
    assert undistort["class"] == "STMap" and undistort["inputs"] == ["STMapUndistort", "Plate"]  # stmap, src
    render = nodes["QCRender"]
    assert render["class"] == "ScanlineRender" and render["inputs"] == ["Undistort", "Ground", "VGGTCamera"]
    assert nodes["Ground"]["inputs"] == ["GroundChecker"] and nodes["Viewer1"]["inputs"] == ["QCRender"]
    cam = nodes["VGGTCamera"]["knobs"]
    assert cam["rot_order"] == "ZXY"
    chan = np.loadtxt(tmp_path / "qc" / "shot.chan")
    translate, rotate = _curve_values(cam["translate"]), _curve_values(cam["rotate"])
    np.testing.assert_allclose(np.array(translate).T, chan[:, 1:4], atol=1e-6)
    np.testing.assert_allclose(np.array(rotate).T, chan[:, 4:7], atol=1e-6)
    # focal length and vertical aperture give the .chan's vertical angle of view
    focal = np.array(_curve_values(cam["focal"])[0])
    vfov = np.degrees(2 * np.arctan(0.5 * float(cam["vaperture"]) / focal))
    lens = lens_of(root)
    wo, ho = lens.overscan_size()
    np.testing.assert_allclose(np.tan(np.radians(vfov) / 2) * lens.height / ho, np.tan(np.radians(chan[:, 7]) / 2),
                               rtol=1e-6)
    # Start At 1: the Read still reads file 1001 on the script's frame 1
    root, _ = _import_sequence(tmp_path / "start", frame_start_at=1)
    plate = _read_nk(Path(export_camera(bpy.context, root, str(tmp_path / "start" / "s.nk"))).read_text())["Plate"]
    assert (plate["knobs"]["first"], plate["knobs"]["frame"]) == ("1001", '"frame+1000"')


def test_locators_in_blender_and_in_the_exports(tmp_path):
    """The solved points as empties under the root, and in world space in the baked Alembic/FBX exports."""
    bpy.ops.wm.read_homefile(use_empty=True)
    rng = np.random.default_rng(3)
    base = make_recon([(96, 64)] * S)
    xyz = rng.uniform(-1, 1, (500, 3)) + [0, 0, 4]
    obs = np.array([(f, p) for p in range(500) for f in range(1 + p % S)], np.int32)
    recon = dataclasses.replace(base, sparse_points=xyz.astype(np.float32), sparse_colors=np.zeros((500, 3), np.uint8),
                                sparse_obs=obs, sparse_uv=np.zeros((len(obs), 2), np.float32))
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, conf_percentile=0.0, locators=40),
                                bpy.context.scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    root.matrix_world = Matrix.Translation((0.4, -1.0, 0.7)) @ Matrix.Scale(2.5, 4) @ root.matrix_world
    bpy.context.view_layer.update()
    locs = [o for o in col.children[f"{col.name} locators"].objects]
    assert 30 <= len(locs) <= 40 and all(o.type == "EMPTY" and o.parent == root for o in locs)
    m = np.array(root.matrix_world)
    want = {o.name: m[:3, :3] @ xyz[o["vggt_locator"]] + m[:3, 3] for o in locs}
    for o in locs:
        np.testing.assert_allclose(np.array(o.matrix_world.translation), want[o.name], atol=1e-5)
    want = {name.replace(" ", "_"): p for name, p in want.items()}  # Alembic names have no spaces
    for ext in (".abc", ".fbx"):
        path = export_camera(bpy.context, root, str(tmp_path / f"loc{ext}"))
        bpy.ops.wm.read_homefile(use_empty=True)
        if ext == ".fbx":
            bpy.ops.import_scene.fbx(filepath=path, anim_offset=0.0)
        else:  # Alembic keeps the locators' parent (the root's transform) as a transform of its own
            bpy.ops.wm.alembic_import(filepath=path)
        bpy.context.view_layer.update()
        got = {o.name.replace(" ", "_"): np.array(o.matrix_world.translation) for o in bpy.context.scene.objects
               if o.type == "EMPTY" and "locator" in o.name}
        assert sorted(got) == sorted(want), ext
        for name, p in want.items():
            np.testing.assert_allclose(got[name], p, atol=1e-4, err_msg=ext)
        bpy.ops.wm.read_homefile(use_empty=True)
        col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, conf_percentile=0.0,
                                                                  locators=40), bpy.context.scene)
        root = next(o for o in col.objects if o.get("vggt_root"))
        root.matrix_world = Matrix.Translation((0.4, -1.0, 0.7)) @ Matrix.Scale(2.5, 4) @ root.matrix_world
        bpy.context.view_layer.update()


def test_movie_strip_that_starts_late(tmp_path):
    """A movie strip placed at frame 240 (every 5th frame reconstructed): the camera, .chan and .nk keep the
    strip's timeline, and the Nuke Read maps it back to the movie's own frames (Nuke numbers them from 1)."""
    pytest.importorskip("av")
    from ext_helpers import write_video

    bpy.ops.wm.read_homefile(use_empty=True)
    video = write_video(tmp_path / "plate.mp4", list(range(0, 240, 16)), size=(96, 64))
    recon = make_recon([(96, 64)] * 3, video=str(video), indices=[0, 5, 10], fx_fy=[(40.0, 40.0)] * 3)
    plate = convert.PlateSettings(movie=str(video), timeline_frames=(240, 245, 250))  # as sources.from_strip gives
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, conf_percentile=0.0, plate=plate),
                                bpy.context.scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    assert list(col["vggt_frame_numbers"]) == [240, 245, 250]
    rows = np.loadtxt(export_camera(bpy.context, root, str(tmp_path / "cam.chan")))
    np.testing.assert_array_equal(rows[:, 0], range(240, 251))
    nodes = _read_nk(Path(export_camera(bpy.context, root, str(tmp_path / "cam.nk"))).read_text())
    read = nodes["Plate"]["knobs"]
    assert read["file"] == "{" + str(video) + "}" and read["frame"] == '"frame-239"'  # frame 240 reads movie frame 1
    assert (read["first"], read["last"]) == ("1", "11")


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
    sensor = animated_camera(root).data.sensor_width
    np.testing.assert_allclose(lens, recon.intrinsics[:, 0, 0] * sensor / 640, rtol=1e-5)  # keyed per frame
    assert lens[-1] / lens[0] > 1.3
    path = Path(export_camera(bpy.context, root, str(tmp_path / f"zoom{ext}")))
    if ext == ".chan":
        rows = np.loadtxt(path)
        got_lens = 0.5 * sensor * (360 / 640) / np.tan(np.radians(rows[:, 7]) / 2)
    else:
        got_lens = _reimport(path, frames)[1]
        if bpy.app.version[:2] < LENS_STATIC_ON_IMPORT.get(ext, (0, 0)):
            got_lens = got_lens[:1]
    np.testing.assert_allclose(got_lens, lens[:len(got_lens)], atol=1e-4)
