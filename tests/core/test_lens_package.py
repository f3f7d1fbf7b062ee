"""The lens package's ST-maps, checked by warping a synthetic distorted grid as Nuke's STMap node would.

The warp here is a stand-in of Nuke's ``STMap`` (bilinear lookup at ``(u * W, (1 - v) * H)``, pixel centres
at +0.5): it tests only our side of that documented contract. The distorted plate is drawn with the
radial model written out here (``1 + k1 r^2 + k2 r^4`` on normalised coordinates), inverted by fixed-point
iteration, independently of pycolmap.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pycolmap")
pytest.importorskip("OpenImageIO")

from vggt_core.deliver.lens_package import (LensPackage, lens_from_reconstruction, redistort_stmap,  # noqa: E402
                                    undistort_stmap, write_lens_package, write_undistorted_plate)
from vggt_core.reconstruction import Lens  # noqa: E402

W, H = 240, 160
LENS = LensPackage("RADIAL", W, H, 200.0, 200.0, 117.0, 72.0, k1=-0.12, k2=0.02)  # barrel, off centre
GRID = 20  # undistorted grid spacing in pixels


def _undistort_points(p: np.ndarray) -> np.ndarray:
    """Plate pixels -> undistorted pixels by fixed-point iteration of the radial model."""
    xd = (p - [LENS.cx, LENS.cy]) / LENS.fx
    xu = xd.copy()
    for _ in range(50):
        r2 = (xu ** 2).sum(-1, keepdims=True)
        xu = xd / (1 + LENS.k1 * r2 + LENS.k2 * r2 ** 2)
    return xu * LENS.fx + [LENS.cx, LENS.cy]


def _grid_image(xy: np.ndarray, shape) -> np.ndarray:
    """Dark anti-aliased vertical lines every GRID pixels (in undistorted coordinates ``xy``) on white."""
    d = np.abs((xy[..., 0] - 10.0 + GRID / 2) % GRID - GRID / 2)
    return np.clip(d / 3.0, 0.0, 1.0).reshape(shape)


def _stmap_warp(src: np.ndarray, stmap: np.ndarray) -> np.ndarray:
    """Nuke STMap stand-in: out[j, i] = src sampled bilinearly at (u * W, (1 - v) * H); NaN outside."""
    h, w = src.shape[:2]
    x = stmap[..., 0] * w - 0.5
    y = (1.0 - stmap[..., 1]) * h - 0.5
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    inside = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < w) & (y0 + 1 < h)
    x0, y0 = np.clip(x0, 0, w - 2), np.clip(y0, 0, h - 2)
    out = (src[y0, x0] * (1 - fx) * (1 - fy) + src[y0, x0 + 1] * fx * (1 - fy)
           + src[y0 + 1, x0] * (1 - fx) * fy + src[y0 + 1, x0 + 1] * fx * fy)
    return np.where(inside, out, np.nan)


def _line_errors(flat: np.ndarray) -> tuple[list[float], list[float]]:
    """For each vertical grid line on the undistorted canvas ``flat`` [Ho, Wo]: row by row the darkness
    centroid near its undistorted x; how far those stray from a straight line fitted through them
    (curvature) and from where the line belongs."""
    ho, wo = flat.shape
    ox = (wo - W) / 2
    cols = np.arange(wo) + 0.5
    bent, off = [], []
    for x_line in np.arange(10.0, W, GRID):
        sel = np.abs(cols - (x_line + ox)) < GRID / 2
        rows, found = [], []
        for j in range(ho):
            dark = 1.0 - flat[j, sel]
            if not np.isnan(dark).any() and dark.sum() > 0.5:
                rows.append(j + 0.5)
                found.append((cols[sel] * dark).sum() / dark.sum())
        if len(found) > H // 2:
            fit = np.polyfit(rows, found, 1)
            bent.append(np.abs(np.polyval(fit, rows) - found).max())
            off.append(np.abs(np.asarray(found) - (x_line + ox)).max())
    return bent, off


def _plate() -> np.ndarray:
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    return _grid_image(_undistort_points(np.stack([xs, ys], -1)), (H, W))


def test_undistort_straightens_lines():
    plate = _plate()
    st = undistort_stmap(LENS)
    wo, ho = LENS.overscan_size()
    assert st.shape == (ho, wo, 2) and st.dtype == np.float32 and LENS.overscan() > 1.0
    flat = _stmap_warp(plate, st)
    bent, off = _line_errors(flat)
    assert len(bent) >= 8 and max(bent) < 0.15 and max(off) < 0.25, (max(bent), max(off))
    # the same measure on the plate itself finds its lines bent: the check can fail
    dark = 1.0 - plate[:, :GRID]
    centroids = ((np.arange(GRID) + 0.5) * dark).sum(1) / dark.sum(1)
    assert np.ptp(centroids) > 1.0


def test_undistort_then_redistort_returns_the_plate():
    und, red = undistort_stmap(LENS), redistort_stmap(LENS)
    wo, ho = LENS.overscan_size()
    assert red.shape == (H, W, 2)
    # where each plate pixel lands on the canvas, then back through the undistort map (bilinear)
    cx = red[..., 0] * wo
    cy = (1.0 - red[..., 1]) * ho
    back_u = _stmap_warp(und[..., 0], np.stack([cx / wo, 1 - cy / ho], -1))
    back_v = _stmap_warp(und[..., 1], np.stack([cx / wo, 1 - cy / ho], -1))
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    err = np.hypot(back_u * W - xs, (1 - back_v) * H - ys)
    assert np.isfinite(err[2:-2, 2:-2]).all()
    assert np.nanmax(err) < 0.05, np.nanmax(err)
    # every undistorted plate pixel lies on the canvas (the overscan holds it)
    assert cx.min() >= 0 and cy.min() >= 0 and cx.max() <= wo and cy.max() <= ho


def test_identity_without_distortion_and_files(tmp_path):
    import OpenImageIO as oiio

    from synth_recon import make_recon

    recon = make_recon([(64, 48)] * 2)
    lens = lens_from_reconstruction(recon)
    assert lens.model == "PINHOLE" and lens.overscan() == 1.0 and lens.overscan_size() == (64, 48)
    st = undistort_stmap(lens)
    ys, xs = np.mgrid[0:48, 0:64] + 0.5
    np.testing.assert_allclose(st[..., 0], xs / 64, atol=1e-6)
    np.testing.assert_allclose(st[..., 1], 1 - ys / 48, atol=1e-6)  # origin bottom-left
    paths = write_lens_package(tmp_path / "lens", LENS)
    meta = json.loads(paths[0].read_text())
    assert meta["model"] == "RADIAL" and meta["k1"] == -0.12 and meta["overscan"] == pytest.approx(LENS.overscan())
    img = oiio.ImageInput.open(str(paths[1]))
    spec = img.spec()
    data = img.read_image(0, 0, 0, 3, "float")
    img.close()
    assert spec.format == oiio.FLOAT and (spec.width, spec.height) == LENS.overscan_size()
    np.testing.assert_array_equal(np.asarray(data)[..., :2], undistort_stmap(LENS))


def test_lens_from_the_solve():
    import dataclasses

    from synth_recon import make_recon

    recon = make_recon([(64, 48)] * 2, fx_fy=[(40.0, 40.0)] * 2)
    solved = dataclasses.replace(recon, lens=Lens.fixed("SIMPLE_RADIAL", 2, k1=0.05))
    lens = lens_from_reconstruction(solved)
    assert lens.model == "SIMPLE_RADIAL" and lens.k1 == 0.05 and lens.k2 == 0.0
    assert lens.fx == lens.fy == pytest.approx(recon.intrinsics[0, 0, 0])


def test_undistorted_plate_with_openimageio(tmp_path):
    """The undistorted plate sequence (OpenImageIO's st_warp reading our ST-map): straight lines, named on the
    plate's frame numbers, float EXR kept float."""
    import OpenImageIO as oiio

    from vggt_core.reconstruction import FrameInfo

    grey = np.repeat(_plate()[..., None], 3, -1).astype(np.float32)
    frames = []
    for n in (1001, 1002):
        path = tmp_path / f"shot.{n}.exr"
        out = oiio.ImageOutput.create(str(path))
        out.open(str(path), oiio.ImageSpec(W, H, 3, oiio.FLOAT))
        out.write_image(grey)
        out.close()
        frames.append(FrameInfo(str(path), n - 1001, None, W, H))
    written = write_undistorted_plate(tmp_path / "und", frames, LENS, [1001, 1002])
    assert [p.name for p in written] == ["undistorted.1001.exr", "undistorted.1002.exr"]
    buf = oiio.ImageBuf(str(written[0]))
    assert buf.spec().format == oiio.FLOAT and (buf.spec().width, buf.spec().height) == LENS.overscan_size()
    flat = np.asarray(buf.get_pixels(oiio.FLOAT))[..., 0]
    wo, ho = LENS.overscan_size()
    # st_warp leaves black outside the plate: only rows and columns fully inside it are measured
    inside = (undistort_stmap(LENS)[..., 0] > 0.02) & (undistort_stmap(LENS)[..., 0] < 0.98)
    inside &= (undistort_stmap(LENS)[..., 1] > 0.02) & (undistort_stmap(LENS)[..., 1] < 0.98)
    bent, off = _line_errors(np.where(inside, flat, np.nan))
    assert len(bent) >= 8 and max(bent) < 0.15 and max(off) < 0.25, (max(bent), max(off))
    pix = np.asarray(buf.get_pixels(oiio.FLOAT))  # every channel warped, not only the ST-map's two
    np.testing.assert_allclose(pix[..., 2][inside], flat[inside], atol=1e-5)


def test_a_folding_lens_leaves_its_corners_out():
    """Strong barrel distortion that folds back before the plate's corners (a bad solve): no NaN in the maps,
    the corners point outside (black in an STMap), the overscan holds the rest, and lens.json says so."""
    lens = LensPackage("RADIAL", 480, 270, 192.2, 192.2, 240.0, 135.0, k1=-0.048, k2=-0.0089)
    assert not lens.invertible() and LENS.invertible()
    red, und = redistort_stmap(lens), undistort_stmap(lens)
    assert np.isfinite(red).all() and np.isfinite(und).all()
    assert (red[0, 0] == -1).all() and (red[-1, -1] == -1).all() and (red[135, 240] > 0).all()
    assert 1.0 < lens.overscan() < 3.0 and lens.to_dict()["invertible"] is False
    # where the round trip is defined it still holds
    ys, xs = np.mgrid[0:270, 0:480] + 0.5
    wo, ho = lens.overscan_size()
    ok = (red[..., 0] >= 0)
    cx, cy = red[..., 0] * wo, (1.0 - red[..., 1]) * ho
    back_u = _stmap_warp(und[..., 0], np.stack([cx / wo, 1 - cy / ho], -1))
    back_v = _stmap_warp(und[..., 1], np.stack([cx / wo, 1 - cy / ho], -1))
    err = np.hypot(back_u * 480 - xs, (1 - back_v) * 270 - ys)
    inner = ok & (np.hypot(xs - 240, ys - 135) < 200)
    assert np.nanmax(err[inner]) < 0.05


def _zoom_recon(focals_model: list[float], k1: float | list[float] = -0.08):
    """A solved zoom (square focals per frame, model px) with a SIMPLE_RADIAL k1 (one, or one per frame), on a
    240x160 plate."""
    import dataclasses

    from synth_recon import make_recon

    recon = make_recon([(W, H)] * len(focals_model), fx_fy=[(f, f) for f in focals_model])
    k1s = np.broadcast_to(k1, len(focals_model))
    return dataclasses.replace(recon, solve={"lens": "zoom"},
                               lens=Lens("SIMPLE_RADIAL", tuple((float(k), 0.0) for k in k1s), shared=False))


def _plate_of_canvas(st: np.ndarray, lens) -> np.ndarray:
    """[Ho, Wo, 2] the plate pixel an undistort ST-map samples for each canvas pixel."""
    return np.stack([st[..., 0] * lens.width, (1.0 - st[..., 1]) * lens.height], -1)


def test_a_distorted_zoom_has_a_lens_per_frame(tmp_path):
    """A zoom solved with k1: every plate frame its own focal in the package, the ST-maps per frame on the plate
    frame numbers, each one the radial model of that frame's focal (written out here, not pycolmap's), on one
    canvas that holds every frame's undistorted plate; lens.json round-trips and frames between take the focal
    interpolated linearly."""
    import OpenImageIO as oiio

    from vggt_core.deliver.lens_package import ShotLens, shot_lens

    recon = _zoom_recon([30.0, 36.0, 45.0])  # the widest frame needs the most overscan (barrel)
    lens = shot_lens(recon, [1001, 1003, 1004])
    focals = recon.intrinsics[:, 0, 0].astype(np.float64)
    assert lens.zoom and lens.numbers == (1001, 1003, 1004)
    assert [lf.fx for lf in lens.lenses] == pytest.approx(focals.tolist())
    assert {lf.k1 for lf in lens.lenses} == {-0.08} and len({lf.canvas for lf in lens.lenses}) == 1
    assert lens.at(1002).fx == pytest.approx((focals[0] + focals[1]) / 2) and lens.at(990).fx == pytest.approx(focals[0])
    wo, ho = lens.overscan_size()
    for lf in lens.lenses:  # every frame's plate edges, undistorted by fixed-point iteration, lie on the canvas
        t = np.linspace(0, 1, 200)
        edge = np.concatenate([np.c_[t * W, 0 * t], np.c_[t * W, H + 0 * t], np.c_[0 * t, t * H], np.c_[W + 0 * t, t * H]])
        xd = (edge - [lf.cx, lf.cy]) / lf.fx
        xu = xd.copy()
        for _ in range(100):
            xu = xd / (1 + lf.k1 * (xu ** 2).sum(-1, keepdims=True))
        u = xu * lf.fx + [lf.cx, lf.cy] + [(wo - W) / 2, (ho - H) / 2]
        assert u.min() >= -1e-6 and (u[:, 0] <= wo + 1e-6).all() and (u[:, 1] <= ho + 1e-6).all()
    assert (wo, ho) == lens.lenses[0].canvas and wo > W

    # keyed on 1001, 1003, 1004 (a strided solve): the maps cover every frame of the span, 1002 too, so the
    # %04d sequences lens.json names have no holes (Nuke's Read would stop at a missing frame)
    paths = write_lens_package(tmp_path / "lens", lens)
    names = sorted(p.name for p in paths)
    assert names == ["lens.json", *(f"stmap_redistort.{n}.exr" for n in range(1001, 1005)),
                     *(f"stmap_undistort.{n}.exr" for n in range(1001, 1005))]
    meta = json.loads((tmp_path / "lens" / "lens.json").read_text())
    assert meta["stmaps"]["undistort"] == "stmap_undistort.%04d.exr" and meta["overscan_size"] == [wo, ho]
    assert meta["focal_per_frame"] == {str(n): pytest.approx(f) for n, f in zip((1001, 1003, 1004), focals)}
    back = ShotLens.from_dict(meta)
    assert back.numbers == lens.numbers and [lf.fx for lf in back.lenses] == pytest.approx(focals.tolist())
    assert back.overscan_size() == (wo, ho)

    ys, xs = np.mgrid[0:ho, 0:wo] + 0.5
    for n, f in zip((1001, 1003, 1004), focals):
        img = oiio.ImageInput.open(str(tmp_path / "lens" / f"stmap_undistort.{n}.exr"))
        st = np.asarray(img.read_image(0, 0, 0, 3, "float"))[..., :2]
        img.close()
        assert st.shape == (ho, wo, 2)
        lf = lens.at(n)
        x = (np.stack([xs - (wo - W) / 2, ys - (ho - H) / 2], -1) - [lf.cx, lf.cy]) / f
        want = x * (1 + lf.k1 * (x ** 2).sum(-1, keepdims=True)) * f + [lf.cx, lf.cy]
        inside = (st[..., 0] > 0) & (want[..., 0] > 1) & (want[..., 0] < W - 1) & (want[..., 1] > 1) & (want[..., 1] < H - 1)
        assert inside.mean() > 0.5
        assert np.abs(_plate_of_canvas(st, lf)[inside] - want[inside]).max() < 2e-3
    # the frames' maps differ where the distortion is strong: a single map would be wrong on the others
    a, b = (undistort_stmap(lens.at(n)) for n in (1001, 1004))
    assert np.abs(_plate_of_canvas(a, lens) - _plate_of_canvas(b, lens))[a[..., 0] > 0].max() > 1.0


def test_a_zoom_whose_distortion_changes_has_each_frames_own_in_its_package(tmp_path):
    """One focal, a k1 per frame (``Reconstruction.lens``): each frame's lens and ST-map are its own k1's radial model
    (written out here), lens.json keeps them per frame, and a frame between keys takes the k1 halfway. Frame 0's
    k1, or one k1 for the shot, would put the second frame's map pixels off."""
    import OpenImageIO as oiio

    from vggt_core.deliver.lens_package import ShotLens, shot_lens

    recon = _zoom_recon([40.0, 40.0], k1=[-0.04, -0.12])
    lens = shot_lens(recon, [10, 12])
    assert lens.zoom and [lf.k1 for lf in lens.lenses] == [-0.04, -0.12]
    assert lens.at(11).k1 == pytest.approx(-0.08) and lens.at(11).fx == lens.lenses[0].fx
    write_lens_package(tmp_path, lens)
    meta = json.loads((tmp_path / "lens.json").read_text())
    assert meta["distortion_per_frame"] == {"10": [-0.04, 0.0], "12": [-0.12, 0.0]}
    assert [lf.k1 for lf in ShotLens.from_dict(meta).lenses] == [-0.04, -0.12]
    wo, ho = lens.overscan_size()
    ys, xs = np.mgrid[0:ho, 0:wo] + 0.5
    maps = []
    for n, k1 in ((10, -0.04), (12, -0.12)):
        img = oiio.ImageInput.open(str(tmp_path / f"stmap_undistort.{n:04d}.exr"))
        st = np.asarray(img.read_image(0, 0, 0, 3, "float"))[..., :2]
        img.close()
        f, cx, cy = lens.lenses[0].fx, lens.lenses[0].cx, lens.lenses[0].cy
        x = (np.stack([xs - (wo - W) / 2, ys - (ho - H) / 2], -1) - [cx, cy]) / f
        want = x * (1 + k1 * (x ** 2).sum(-1, keepdims=True)) * f + [cx, cy]
        on_plate = (want > 1).all(-1) & (want[..., 0] < W - 1) & (want[..., 1] < H - 1)
        inside = (st[..., 0] > 0) & on_plate
        assert inside.mean() > 0.5
        assert np.abs(_plate_of_canvas(st, lens.lenses[0])[inside] - want[inside]).max() < 2e-3
        maps.append((_plate_of_canvas(st, lens.lenses[0]), inside))
    both = maps[0][1] & maps[1][1]  # the two frames' maps are far apart: one map for both would be wrong
    assert np.abs(maps[0][0][both] - maps[1][0][both]).max() > 1.0


def test_an_unsolved_reconstruction_has_no_distortion(tmp_path):
    """The network's output carries no lens: its package is a pinhole (identity maps) and its COLMAP cameras
    pinholes per frame, each with its own fx, fy."""
    import pycolmap

    from synth_recon import make_recon
    from vggt_core.deliver.colmap import write_colmap
    from vggt_core.solve import solve

    recon = make_recon([(W, H)] * 2)
    assert recon.lens is None and solve(recon, lens="per-frame").lens is None
    assert lens_from_reconstruction(recon).model == "PINHOLE"
    model = pycolmap.Reconstruction(write_colmap(tmp_path, recon, text=False))
    assert [(c.model.name, c.params[0], c.params[1]) for _, c in sorted(model.cameras.items())] == [
        ("PINHOLE", pytest.approx(k[0, 0]), pytest.approx(k[1, 1])) for k in recon.intrinsics]


def test_a_fixed_or_pinhole_zoom_keeps_one_pair_of_maps(tmp_path):
    from vggt_core.deliver.lens_package import shot_lens

    pinhole_zoom = _zoom_recon([30.0, 45.0])
    import dataclasses

    pinhole_zoom = dataclasses.replace(pinhole_zoom, lens=Lens.fixed("PINHOLE", 2, shared=False))
    assert not shot_lens(pinhole_zoom, [1, 2]).zoom  # identity maps whatever the focal
    shared = dataclasses.replace(_zoom_recon([40.0, 40.0]), solve={"lens": "shared"},
                                 lens=Lens.fixed("SIMPLE_RADIAL", 2, k1=-0.05))
    lens = shot_lens(shared, [1, 2])
    assert not lens.zoom and lens.at(7) == lens.lenses[0] and lens.lenses[0].canvas is None
    names = sorted(p.name for p in write_lens_package(tmp_path, lens))
    assert names == ["lens.json", "stmap_redistort.exr", "stmap_undistort.exr"]
    assert "focal_per_frame" not in json.loads((tmp_path / "lens.json").read_text())


def test_a_zooms_undistorted_plate_uses_each_frames_map(tmp_path):
    """Two frames of a distorted zoom, each drawn through its own focal: undistorted with its own map the grid's
    lines come out straight on both; warped with the other frame's map they stay bent (the test can fail)."""
    import OpenImageIO as oiio

    from vggt_core.deliver.lens_package import shot_lens
    from vggt_core.reconstruction import FrameInfo

    recon = _zoom_recon([26.0, 40.0], k1=-0.12)
    lens = shot_lens(recon, [1, 2])
    wo, ho = lens.overscan_size()
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    frames = []
    for i, n in enumerate((1, 2)):
        lf = lens.at(n)
        xd = (np.stack([xs, ys], -1) - [lf.cx, lf.cy]) / lf.fx
        xu = xd.copy()
        for _ in range(100):
            xu = xd / (1 + lf.k1 * (xu ** 2).sum(-1, keepdims=True))
        grey = _grid_image(xu * lf.fx + [lf.cx, lf.cy], (H, W))
        path = tmp_path / f"shot.{n:04d}.exr"
        out = oiio.ImageOutput.create(str(path))
        out.open(str(path), oiio.ImageSpec(W, H, 1, oiio.FLOAT))
        out.write_image(grey[..., None].astype(np.float32))
        out.close()
        frames.append(FrameInfo(str(path), i, None, W, H))
    written = write_undistorted_plate(tmp_path / "und", frames, lens, [1, 2])
    for n, path in zip((1, 2), written):
        flat = np.asarray(oiio.ImageBuf(str(path)).get_pixels(oiio.FLOAT))[..., 0]
        assert flat.shape == (ho, wo)
        own = undistort_stmap(lens.at(n))
        inside = (own[..., 0] > 0.03) & (own[..., 0] < 0.97) & (own[..., 1] > 0.03) & (own[..., 1] < 0.97)
        bent, off = _line_errors(np.where(inside, flat, np.nan))
        assert len(bent) >= 6 and max(bent) < 0.2 and max(off) < 0.3, (n, max(bent), max(off))
    src = np.asarray(oiio.ImageBuf(frames[1].source).get_pixels(oiio.FLOAT))[..., 0]
    wrong = _stmap_warp(src, undistort_stmap(lens.at(1)))
    bent, off = _line_errors(wrong)
    assert max(off) > 1.0
