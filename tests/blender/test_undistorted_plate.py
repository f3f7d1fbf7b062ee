"""The undistorted plate behind the overscan camera, on real bpy, checked against a Cycles render.

A synthetic plate (``shot.1001-1005.png``, frames 1001, 1003 and 1005 reconstructed) through a lens with barrel
distortion (k1 = -0.15): frame 1001 holds Gaussian dots where the lens puts four points near the plate's
corners. After the import, the animated camera frames the overscan canvas and shows the undistorted plate.
Cycles renders camera-facing discs at the imported locators (the solved points) through that camera; the
centre of each disc in the render and the centre of its dot in the undistorted plate must agree within
0.05 px (both on the canvas, pixel centres at +0.5). The expected canvas pixel comes from the lens maths
(``LensPackage``), never from Blender.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(Path(__file__).parent)]

from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_core import Lens  # noqa: E402

W, H = 320, 180
K1 = -0.15
NUMBERS = range(1001, 1006)
KEYED = (1001, 1003, 1005)
SIGMA = 1.6  # the dots' Gaussian sigma, plate pixels
UNDISTORTED_PX = np.array([(0.1 * W, 0.12 * H), (0.9 * W, 0.14 * H), (0.12 * W, 0.88 * H), (0.88 * W, 0.9 * H)])


def _lens(recon):
    from vggt_core.deliver.lens_package import lens_from_reconstruction

    return lens_from_reconstruction(recon)


def _shot(tmp_path: Path):
    """(recon, lens, points [4, 3] VGGT world): the plate written, its middle frames not reconstructed."""
    from PIL import Image

    folder = tmp_path / "plate"
    folder.mkdir()
    paths = {n: str(folder / f"shot.{n}.png") for n in NUMBERS}
    recon = make_recon([(W, H)] * 3, image_paths=[paths[n] for n in KEYED], indices=[n - 1001 for n in KEYED],
                       fx_fy=[(40.0, 40.0)] * 3)
    fx = float(recon.intrinsics[0, 0, 0])
    k = recon.intrinsics.copy()
    k[:, 1, 1] = fx  # one focal length, as the radial models have (the synthetic K's pixels are not square)
    recon = dataclasses.replace(recon, intrinsics=k, solve={"lens": "shared", "focal_before_px": fx,
                                                            "focal_after_px": fx},
                                lens=Lens.fixed("SIMPLE_RADIAL", 3, k1=K1))
    lens = _lens(recon)
    # points at depth 2 in front of frame 1001's camera (the world's: identity), seen at UNDISTORTED_PX
    rays = np.c_[(UNDISTORTED_PX - [lens.cx, lens.cy]) / [lens.fx, lens.fy], np.ones(len(UNDISTORTED_PX))]
    points = (2.0 * rays).astype(np.float32)
    obs = np.array([(f, p) for p in range(len(points)) for f in range(3)], np.int32)
    recon = dataclasses.replace(recon, sparse_points=points, sparse_colors=np.zeros((len(points), 3), np.uint8),
                                sparse_obs=obs, sparse_uv=np.zeros((len(obs), 2), np.float32))
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    for n in NUMBERS:
        plate = np.full((H, W), 10.0 * (n - 1000))  # each frame its own grey
        if n == 1001:
            for x, y in lens.distort(UNDISTORTED_PX):
                plate += 200.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIGMA**2))
        Image.fromarray(np.repeat(np.clip(plate, 0, 255).round().astype(np.uint8)[..., None], 3, 2)).save(paths[n])
    return recon, lens, points


def _centroid(image: np.ndarray, near: np.ndarray, radius: int = 5) -> np.ndarray:
    """Intensity centroid (pixel centres at +0.5) of the blob within ``radius`` of ``near``, background removed."""
    x0, y0 = (int(v) for v in np.floor(near))
    win = image[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1].astype(np.float64)
    win = np.clip(win - np.median(np.r_[win[0], win[-1], win[:, 0], win[:, -1]]), 0, None)
    yy, xx = np.mgrid[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1] + 0.5
    return np.array([(win * xx).sum(), (win * yy).sum()]) / win.sum()


def _read(path: str) -> np.ndarray:
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(path)
    return np.asarray(buf.get_pixels(oiio.FLOAT))[..., :3].mean(axis=2)


def _disc(name: str, cam: bpy.types.Object, at, radius: float) -> bpy.types.Object:
    """An emissive disc of ``radius`` at world ``at``, parallel to the camera's image plane (its image is a circle
    centred on the projection of ``at``)."""
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    verts = [(0.0, 0.0, 0.0), *((radius * np.cos(a), radius * np.sin(a), 0.0) for a in t)]
    faces = [(0, 1 + i, 1 + (i + 1) % len(t)) for i in range(len(t))]
    me = bpy.data.meshes.new(name)
    me.from_pydata(verts, [], faces)
    mat = bpy.data.materials.get("disc") or bpy.data.materials.new("disc")
    if bpy.app.version < (5, 0):
        mat.use_nodes = True  # always on (and deprecated) from 5.0
    nodes = mat.node_tree.nodes
    nodes.clear()
    emit, out = nodes.new("ShaderNodeEmission"), nodes.new("ShaderNodeOutputMaterial")
    mat.node_tree.links.new(emit.outputs[0], out.inputs[0])
    me.materials.append(mat)
    obj = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(obj)
    m = cam.matrix_world.normalized().copy()
    m.translation = at
    obj.matrix_world = m
    return obj


def cycles_on_black(scene: bpy.types.Scene, samples: int) -> bpy.types.RenderSettings:
    """Cycles on the CPU, no denoising or adaptive sampling, a black world, linear EXR out: the discs' centres
    measurable to hundredths of a pixel. Returns the render settings."""
    scene.world = bpy.data.worlds.new("black")
    scene.world.color = (0, 0, 0)
    r = scene.render
    r.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", samples
    scene.cycles.use_denoising = scene.cycles.use_adaptive_sampling = False
    scene.view_settings.view_transform = "Standard"
    r.image_settings.file_format = "OPEN_EXR"
    return r


def test_overscan_camera_over_the_undistorted_plate_lines_up_with_a_cycles_render(tmp_path):
    bpy.ops.wm.read_homefile(use_empty=True)
    recon, lens, points = _shot(tmp_path)
    wo, ho = lens.overscan_size()
    assert lens.overscan() > 1.03  # the test would pass trivially on a near-pinhole lens
    settings = convert.ImportSettings(depth_proxies=False, conf_percentile=0.0, locators=10,
                                      undistorted_dir=str(tmp_path / "und"))
    col = import_reconstruction(recon, settings, bpy.context.scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    scene = bpy.context.scene
    anim = scene.camera
    assert "vggt_frame" not in anim and list(anim["vggt_overscan"]) == [wo, ho, W, H]
    assert (scene.render.resolution_x, scene.render.resolution_y) == (wo, ho)
    assert anim.data.sensor_width == pytest.approx(36.0 * wo / W)
    assert anim.data.lens == pytest.approx(lens.fx * 36.0 / W, rel=1e-5)  # the focal length in mm is the plate's

    shown, plate = anim.data.background_images
    assert shown.show_background_image and not plate.show_background_image
    assert shown.image.source == "SEQUENCE" and plate.image.source == "SEQUENCE"
    files = sorted(os.listdir(os.path.dirname(bpy.path.abspath(shown.image.filepath))))
    assert files == [f"undistorted.{n}.png" for n in NUMBERS]  # interpolated frames 1002, 1004 too
    iu = shown.image_user
    for f in NUMBERS:  # Blender shows file (f - frame_start + 1 + frame_offset) at frame f: file f
        assert f - iu.frame_start + 1 + iu.frame_offset == f
    folder = os.path.dirname(bpy.path.abspath(shown.image.filepath))
    grey = _read(os.path.join(folder, "undistorted.1004.png"))[ho // 2, wo // 2] * 255
    assert abs(grey - 40.0) < 1.0  # frame 1004's own grey: the plate's frame, not a held reconstructed one

    # Cycles: discs at the locators, through the overscan camera at frame 1001
    scene.frame_set(1001)
    locators = sorted((o for o in root.children_recursive if o.get("vggt_locator") is not None),
                      key=lambda o: o.name)
    assert len(locators) == len(points)
    for obj in scene.objects:
        obj.hide_render = True
    depth = 2.0 * float(np.linalg.norm(np.asarray(root.matrix_world)[:3, 0]))
    for i, loc in enumerate(locators):
        _disc(f"disc {i}", anim, loc.matrix_world.translation, radius=2.2 * depth / lens.fx)
    r = cycles_on_black(scene, 256)
    r.filepath = str(tmp_path / "render.exr")
    bpy.ops.render.render(write_still=True)
    render = _read(str(tmp_path / "render.exr"))
    assert render.shape == (ho, wo)

    undistorted = _read(os.path.join(folder, "undistorted.1001.png"))
    offset = np.array([(wo - W) / 2, (ho - H) / 2])
    for want in UNDISTORTED_PX + offset:  # where the pinhole overscan camera sees each point
        in_render = _centroid(render, want)
        on_plate = _centroid(undistorted, want)
        assert np.hypot(*(in_render - want)) < 0.05, (want, in_render)
        assert np.hypot(*(in_render - on_plate)) < 0.05, (want, in_render, on_plate)


def test_the_worker_writes_the_plate_and_the_import_reuses_it_or_cancels(tmp_path, monkeypatch):
    """The run's worker writes the undistorted plate (``runs.worker``), the import then writes nothing; a cancel
    during the writing leaves no half-written frame; without distortion nothing is undistorted."""
    from vggt_core.deliver import lens_package
    from vggt_core.errors import Cancelled

    monkeypatch.setattr(lens_package, "UNDISTORT_WORKERS", 1)  # one frame in flight: where the cancel lands is fixed

    from vggt_blender.runs import worker

    bpy.ops.wm.read_homefile(use_empty=True)
    recon, lens, _ = _shot(tmp_path)
    settings = convert.ImportSettings(depth_proxies=False, undistorted_dir=str(tmp_path / "und"))
    stages = []
    with pytest.raises(Cancelled):
        worker._undistort(recon, settings, 1, lambda s, f: stages.append(f), lambda: len(stages) > 2)
    und = convert.undistorted_plate(recon, settings, 1, settings.undistorted_dir)
    assert not any(name.endswith(".part") for name in os.listdir(und.folder))
    assert 0 < len(os.listdir(und.folder)) < len(NUMBERS)
    worker._undistort(recon, settings, 1, lambda s, f: stages.append(s), None)
    assert "Undistorting plate" in stages
    times = {p: os.stat(os.path.join(und.folder, p)).st_mtime_ns for p in os.listdir(und.folder)}
    assert len(times) == len(NUMBERS)
    import_reconstruction(recon, settings, bpy.context.scene)
    assert {p: os.stat(os.path.join(und.folder, p)).st_mtime_ns for p in os.listdir(und.folder)} == times

    pinhole = dataclasses.replace(recon, lens=Lens.fixed("PINHOLE", 3))
    assert convert.undistorted_plate(pinhole, settings, 1, settings.undistorted_dir) is None
    off = dataclasses.replace(settings, undistorted_plate=False)
    assert convert.undistorted_plate(recon, off, 1, settings.undistorted_dir) is None
    col = import_reconstruction(recon, off, bpy.context.scene)
    cam = next(o for o in col.objects if o.type == "CAMERA" and "vggt_frame" not in o)
    assert "vggt_overscan" not in cam and len(cam.data.background_images) == 1


def test_a_plate_delivered_again_under_the_same_names_gets_new_undistorted_frames(tmp_path):
    """The folder is keyed on the plate files' sizes and mtimes: frame 1003 replaced (a fixed plate from the
    vendor, same name) is undistorted again in a new folder; the stale one is never shown."""
    from PIL import Image

    recon, _, _ = _shot(tmp_path)
    settings = convert.ImportSettings(depth_proxies=False, undistorted_dir=str(tmp_path / "und"))
    old = convert.undistorted_plate(recon, settings, 1, settings.undistorted_dir)
    old.write()
    assert convert.undistorted_plate(recon, settings, 1, settings.undistorted_dir).folder == old.folder
    fixed = tmp_path / "plate" / "shot.1003.png"
    before = fixed.stat().st_mtime_ns
    Image.fromarray(np.full((H, W, 3), 250, np.uint8)).save(fixed)
    os.utime(fixed, ns=(before + 10**9, before + 10**9))  # delivered later (whatever the filesystem clock's tick)
    new = convert.undistorted_plate(recon, settings, 1, settings.undistorted_dir)
    assert new.folder != old.folder and not os.path.exists(new.folder)
    new.write()
    from vggt_core.deliver.lens_package import undistorted_name

    i = [f.source for f in new.frames].index(str(fixed))
    name = undistorted_name(new.frames[i], new.numbers[i])
    assert _read(os.path.join(old.folder, name)).max() < 0.2 < 0.9 < _read(os.path.join(new.folder, name)).max()


def test_blender_cli_plans_the_undistorted_plate_beside_out(tmp_path):
    """``blender -b -c vggt``: the undistorted plate goes to OUT's folder (vggt_undistorted/), written by the run's
    worker; ``--no-undistorted-plate`` keeps the plate camera."""
    from vggt_blender.command_line import cli

    base = ["--images", str(tmp_path), "--out", str(tmp_path / "shot" / "scene.blend")]
    plan = cli._plan(cli._parser().parse_args(base))
    assert plan.import_settings.undistorted_plate
    assert plan.import_settings.undistorted_dir == str(tmp_path / "shot" / "vggt_undistorted")
    assert plan.job.import_as == (plan.import_settings, 1)
    plan = cli._plan(cli._parser().parse_args([*base, "--no-undistorted-plate"]))
    assert not plan.import_settings.undistorted_plate


def test_exports_of_the_overscan_camera_say_so(tmp_path):
    """Alembic (read back as bytes: Ogawa stores names and strings as they are), USD, ``.chan`` and ``.nk`` of the
    overscan camera: its canvas in the metadata, the ``.chan``'s field of view that of the canvas, and the Nuke
    script's Read on the original plate with the plate's aperture (its STMap makes the canvas)."""
    import math
    import re

    from vggt_blender.deliver.camera import export_camera

    bpy.ops.wm.read_homefile(use_empty=True)
    recon, lens, _ = _shot(tmp_path)
    wo, ho = lens.overscan_size()
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, undistorted_dir=str(tmp_path / "u")),
                                bpy.context.scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    canvas = f"overscan {wo}x{ho} of plate {W}x{H}"
    abc = Path(export_camera(bpy.context, root, str(tmp_path / "out" / "shot.abc"))).read_bytes()
    assert b"vggt_canvas" in abc and canvas.encode() in abc
    assert str(tmp_path / "out" / "shot_lens" / "lens.json").encode() in abc
    usda = Path(export_camera(bpy.context, root, str(tmp_path / "out" / "shot.usda"))).read_text()
    assert "userProperties:vggt_canvas" in usda and f'"{canvas}"' in usda
    chan = Path(export_camera(bpy.context, root, str(tmp_path / "out" / "shot.chan"))).read_text()
    first = chan.splitlines()[0].split("\t")
    assert int(first[0]) == 1001
    assert float(first[7]) == pytest.approx(math.degrees(2 * math.atan(ho / 2 / lens.fy)), rel=1e-4)
    nk = Path(export_camera(bpy.context, root, str(tmp_path / "out" / "shot.nk"))).read_text()
    haperture = float(next(line.split()[1] for line in nk.splitlines() if line.startswith(" haperture")))
    assert haperture == pytest.approx(36.0 * wo / W, rel=1e-6)  # the plate's 36 mm, widened to the canvas once
    assert "shot.####.png" in nk and "undistorted_" not in nk
    assert f'format "{wo} {ho} 0 0 {wo} {ho} 1 vggt_overscan"' in nk
    # an Axis per locator, at its world position in Nuke's Y-up world: (x, y, z) Blender -> (x, z, -y)
    axes = dict(re.findall(r"Axis2 \{\n inputs 0\n translate \{([^}]*)\}\n name (\S+)\n\}", nk))
    locators = [o for o in root.children_recursive if o.get("vggt_locator") is not None]
    assert len(axes) == len(locators) == 4
    for o in locators:
        x, y, z = o.matrix_world.translation
        got = [float(v) for v in next(t for t, n in axes.items() if n == o.name.replace(" ", "_")).split()]
        np.testing.assert_allclose(got, [x, z, -y], atol=1e-6)


def test_a_movie_plate_is_undistorted_frame_by_frame_on_its_timeline(tmp_path):
    """A movie plate placed on the timeline at 240 (as a strip gives), frames 0, 5 and 10 reconstructed: all 11 movie
    frames are undistorted, file 240 + k holding movie frame k (grey level 16 k), shown at frame 240 + k."""
    from ext_helpers import write_video

    bpy.ops.wm.read_homefile(use_empty=True)
    video = write_video(tmp_path / "plate.mp4", list(range(0, 240, 16)), size=(96, 64))
    recon = make_recon([(96, 64)] * 3, video=str(video), indices=[0, 5, 10], fx_fy=[(40.0, 40.0)] * 3)
    fx = float(recon.intrinsics[0, 0, 0])
    k = recon.intrinsics.copy()
    k[:, 1, 1] = fx
    recon = dataclasses.replace(recon, intrinsics=k, solve={"lens": "shared", "focal_before_px": fx,
                                                            "focal_after_px": fx},
                                lens=Lens.fixed("SIMPLE_RADIAL", 3, k1=-0.1))
    plate = convert.PlateSettings(movie=str(video), timeline_frames=(240, 245, 250))
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, plate=plate,
                                                              undistorted_dir=str(tmp_path / "und")), bpy.context.scene)
    cam = next(o for o in col.objects if o.type == "CAMERA" and "vggt_frame" not in o)
    shown, hidden = cam.data.background_images
    assert hidden.source == "MOVIE_CLIP" and not hidden.show_background_image
    folder = os.path.dirname(bpy.path.abspath(shown.image.filepath))
    assert sorted(os.listdir(folder)) == [f"undistorted.{240 + i:04d}.png" for i in range(11)]
    iu = shown.image_user
    assert all(f - iu.frame_start + 1 + iu.frame_offset == f for f in range(240, 251))
    wo, ho = _lens(recon).overscan_size()
    for i in (0, 3, 10):
        grey = _read(os.path.join(folder, f"undistorted.{240 + i:04d}.png"))[ho // 2, wo // 2] * 255
        assert abs(grey - 16 * i) < 3, (i, grey)
