"""A distorted zoom's lens package and undistorted plate, on real bpy, checked against Cycles.

A synthetic 320x180 plate (``shot.1001-1005.png``; frames 1001, 1003 and 1005 reconstructed with focals 34, 40
and 48 model px, COLMAP's SIMPLE_RADIAL k1 = -0.15) holds Gaussian dots where each frame's own lens puts four
points near its corners: the pixel displacement of a radial distortion changes with the focal, so every frame
needs its own ST-map. Expected pixels and focals come from the lens maths written out here and
``LensPackage`` (frame 1004, between keys, takes the focal interpolated linearly), never from Blender.
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

from ext_helpers import fcurves  # noqa: E402
from synth_recon import make_recon  # noqa: E402
# the plate, its frames and the dots' pinhole pixels are the fixed lens test's (test_undistorted_plate)
from test_undistorted_plate import (H, KEYED, NUMBERS, SIGMA, UNDISTORTED_PX, W, _centroid, _disc,  # noqa: E402
                                    _read, cycles_on_black)
from vggt_blender import convert  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_core import Lens  # noqa: E402

K1 = -0.15
FOCALS_MODEL = (34.0, 40.0, 48.0)
DOTTED = (1001, 1004, 1005)


def _distort(px: np.ndarray, f: float, c: np.ndarray) -> np.ndarray:
    """SIMPLE_RADIAL written out: undistorted plate pixels -> distorted ones at focal ``f`` (px)."""
    x = (px - c) / f
    return x * (1 + K1 * (x ** 2).sum(-1, keepdims=True)) * f + c


def _shot(tmp_path: Path):
    from PIL import Image

    folder = tmp_path / "plate"
    folder.mkdir()
    paths = {n: str(folder / f"shot.{n}.png") for n in NUMBERS}
    recon = make_recon([(W, H)] * 3, image_paths=[paths[n] for n in KEYED], indices=[n - 1001 for n in KEYED],
                       fx_fy=[(f, f) for f in FOCALS_MODEL])
    k = recon.intrinsics.copy()
    k[:, 1, 1] = k[:, 0, 0]
    recon = dataclasses.replace(recon, intrinsics=k, solve={
        "lens": "zoom", "focal_before_px": float(k[0, 0, 0]), "focal_after_px": float(k[0, 0, 0])},
        lens=Lens.fixed("SIMPLE_RADIAL", 3, k1=K1, shared=False))
    focals = dict(zip(KEYED, k[:, 0, 0].astype(np.float64)))
    focals[1002], focals[1004] = (focals[1001] + focals[1003]) / 2, (focals[1003] + focals[1005]) / 2
    c = np.array([k[0, 0, 2], k[0, 1, 2]], np.float64)
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    for n in NUMBERS:
        plate = np.full((H, W), 10.0 * (n - 1000))
        if n in DOTTED:
            for x, y in _distort(UNDISTORTED_PX, focals[n], c):
                plate += 200.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIGMA**2))
        Image.fromarray(np.repeat(np.clip(plate, 0, 255).round().astype(np.uint8)[..., None], 3, 2)).save(paths[n])
    return recon, focals, c


def test_a_distorted_zoom_undistorts_each_frame_with_its_own_focal(tmp_path):
    from vggt_blender.deliver.camera import export_camera
    from vggt_blender.deliver.lens import export_lens

    bpy.ops.wm.read_homefile(use_empty=True)
    recon, focals, c = _shot(tmp_path)
    settings = convert.ImportSettings(depth_proxies=False, conf_percentile=0.0, undistorted_dir=str(tmp_path / "und"))
    col = import_reconstruction(recon, settings, bpy.context.scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    scene = bpy.context.scene
    anim = scene.camera
    wo, ho = (int(v) for v in anim["vggt_overscan"][:2])
    offset = np.array([(wo - W) / 2, (ho - H) / 2])
    # the canvas holds every frame's undistorted plate: the widest frame's corners (fixed-point inversion)
    corners = np.array([(0.0, 0.0), (W, 0.0), (0.0, H), (W, H)])
    for f in focals.values():
        xd = (corners - c) / f
        xu = xd.copy()
        for _ in range(200):
            xu = xd / (1 + K1 * (xu ** 2).sum(-1, keepdims=True))
        u = xu * f + c + offset
        assert (u >= -1e-6).all() and (u[:, 0] <= wo + 1e-6).all() and (u[:, 1] <= ho + 1e-6).all()
    assert (scene.render.resolution_x, scene.render.resolution_y) == (wo, ho)

    # the lens keyed on every frame, each frame's focal (linear between the solve's keys)
    mm = {}
    for n in NUMBERS:
        scene.frame_set(n)
        mm[n] = anim.data.lens
        assert mm[n] == pytest.approx(focals[n] * 36.0 / W, rel=1e-5), n
    lens_curve = next(f for f in fcurves(anim.data) if f.data_path == "lens")
    # keys on every frame: the ST-map of 1004 holds whatever camera_interpolation does between pose keys
    assert [int(k.co[0]) for k in lens_curve.keyframe_points] == list(NUMBERS)

    shown = anim.data.background_images[0]
    folder = os.path.dirname(bpy.path.abspath(shown.image.filepath))
    assert sorted(os.listdir(folder)) == [f"undistorted.{n}.png" for n in NUMBERS]
    for n in DOTTED:  # each file undistorted with its own frame's focal: the dots at the pinhole pixels
        und = _read(os.path.join(folder, f"undistorted.{n}.png"))
        for want in UNDISTORTED_PX + offset:
            assert np.hypot(*(_centroid(und, want) - want)) < 0.05, (n, want, _centroid(und, want))

    # Cycles through the overscan camera at two keyed frames of different focal: discs on each frame's rays
    for obj in scene.objects:
        obj.hide_render = True
    r = cycles_on_black(scene, 64)
    m = np.asarray(root.matrix_world)
    for i, n in ((0, 1001), (2, 1005)):
        scene.frame_set(n)
        ext = recon.extrinsics[i].astype(np.float64)
        rays = np.c_[(UNDISTORTED_PX - c) / focals[n], np.ones(4)]
        world = (2.0 * rays - ext[:, 3]) @ ext[:, :3]  # VGGT world points at depth 2 on frame n's rays
        discs = [_disc(f"disc {n} {j}", anim, (m[:3, :3] @ p + m[:3, 3]).tolist(),
                       radius=2.2 * 2.0 * np.linalg.norm(m[:3, 0]) / focals[n]) for j, p in enumerate(world)]
        r.filepath = str(tmp_path / f"render{n}.exr")
        bpy.ops.render.render(write_still=True)
        render = _read(r.filepath)
        for want in UNDISTORTED_PX + offset:
            assert np.hypot(*(_centroid(render, want) - want)) < 0.05, (n, want, _centroid(render, want))
        for d in discs:
            d.hide_render = True

    # the exports: per-frame ST-maps on every frame of the camera, the .nk reading them as a sequence
    nk = Path(export_camera(bpy.context, root, str(tmp_path / "out" / "shot.nk"))).read_text()
    maps = sorted(os.listdir(tmp_path / "out" / "shot_lens"))
    assert maps == ["lens.json", *(f"stmap_redistort.{n}.exr" for n in NUMBERS),
                    *(f"stmap_undistort.{n}.exr" for n in NUMBERS)]
    assert "stmap_undistort.####.exr" in nk
    block = nk[nk.index("stmap_undistort.####.exr"):].split("name STMapUndistort", 1)[0]
    assert " first 1001" in block and " last 1005" in block
    written = export_lens(root, str(tmp_path / "lens"))
    assert sorted(os.path.basename(p) for p in written) == maps
