"""Masks animated as artists animate them: layer shape keys, the Mask editor's *Insert Key*, rasterised by the
compositor (builders/mask_raster.py) at keyed and in-between frames, against the square Blender's interpolation
puts there: linear between neighbouring keys, held before the first and after the last
(``BKE_mask_layer_evaluate_animation``). Real bpy; also run under bpy 4.2 (test_bpy42.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "blender")]

from ext_helpers import fcurves  # noqa: E402
from vggt_blender.builders.mask_raster import rasterise_masks  # noqa: E402

W, H = 160, 90
SIDE = 0.25  # the square's side, in Mask units (the plate's width is 1)
KEYS = {3: (0.1, 0.3), 11: (0.5, 0.3), 21: (0.3, 0.4)}  # scene frame -> the square's lower left corner


def _place(spline: bpy.types.MaskSpline, x0: float, y0: float, side: float) -> None:
    for p, co in zip(spline.points, [(x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side)]):
        p.co = co
        p.handle_type = "VECTOR"
        p.select = True  # Insert Key keys the layers with a selected point


def _insert_shape_key(mask: bpy.types.Mask) -> None:
    """The Mask editor's Insert Key (``bpy.ops.mask.shape_key_insert``) at the scene's frame, in an Image editor
    showing ``mask``: layer shape keys have no data API."""
    window = bpy.context.window_manager.windows[0]
    area = window.screen.areas[0]
    kind = area.type
    area.type = "IMAGE_EDITOR"
    try:
        space = area.spaces.active
        space.mode, space.mask = "MASK", mask
        region = next(r for r in area.regions if r.type == "WINDOW")
        with bpy.context.temp_override(window=window, area=area, region=region):
            assert bpy.ops.mask.shape_key_insert() == {"FINISHED"}
    finally:
        area.type = kind


def shape_keyed_square(name: str, keys: dict[int, tuple[float, float]], side: float) -> bpy.types.Mask:
    """A Mask whose one square spline is shape-keyed at each scene frame of ``keys`` with its lower left corner
    there (Mask coordinates), as an artist keys it: go to the frame, move the points, Insert Key."""
    mask = bpy.data.masks.new(name)
    spline = mask.layers.new().splines.new()  # holds one point already
    spline.points.add(3)
    spline.use_cyclic = True
    for frame, (x0, y0) in keys.items():
        bpy.context.scene.frame_set(frame)  # first: a frame change puts the keyed shape back on the points
        _place(spline, x0, y0, side)
        _insert_shape_key(mask)
    return mask


def square_pixels(x0: float, y0: float, side: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``[H, W]`` (surely in, surely out) for a square of Mask coordinates on a ``size = (W, H)`` plate: pixels
    whose centre lies half a pixel inside its edges, and half a pixel outside them. Mask space: x spans the
    width, y the same scale about the frame's centre, pointing up."""
    w, h = size
    cx, cy = np.arange(w) + 0.5, np.arange(h) + 0.5
    left, right = x0 * w, (x0 + side) * w
    top, bottom = h / 2 - (y0 + side - 0.5) * w, h / 2 - (y0 - 0.5) * w

    def within(pad: float) -> np.ndarray:
        return (((cx > left - pad) & (cx < right + pad))[None, :]
                & ((cy > top - pad) & (cy < bottom + pad))[:, None])

    return within(-0.5), ~within(0.5)


def _corner(frame: int) -> tuple[float, float]:
    """Where Blender puts the keyed square's corner at ``frame``: linear between the neighbouring keys, the
    first or last key's outside them."""
    frames = sorted(KEYS)
    return tuple(float(np.interp(frame, frames, [KEYS[f][k] for f in frames])) for k in (0, 1))


def _assert_square(matte: np.ndarray, corner: tuple[float, float], side: float, frame: int) -> None:
    inside, outside = square_pixels(*corner, side, (W, H))
    assert matte.shape == (H, W)
    assert matte[inside].all() and not matte[outside].any(), (frame, corner)


def test_a_shape_keyed_mask_is_rasterised_where_blender_interpolates_it(scene):
    mask = shape_keyed_square("Roto", KEYS, SIDE)
    # Before the first key, on keys, a quarter and a fifth of the way between keys, after the last. A quarter of
    # the way from frame 3 to 11, eased keys would put the square 6 px left of where linear ones do.
    frames = [1, 3, 5, 11, 13, 21, 30]
    for frame, matte in zip(frames, rasterise_masks([mask], frames, (W, H))):
        _assert_square(matte, _corner(frame), SIDE, frame)


def test_shape_keys_and_f_curves_together_each_where_their_animation_puts_them(scene):
    keyed = shape_keyed_square("Shape keys", KEYS, SIDE)
    curves = bpy.data.masks.new("F-curves")
    spline = curves.layers.new().splines.new()
    spline.points.add(3)
    spline.use_cyclic = True
    path = f'layers["{curves.layers[0].name}"].splines[0].points[{{}}].co'
    for frame, x0 in ((1, 0.05), (9, 0.55)):  # F-curves ease (Bezier) by default: expected = the curve's value
        _place(spline, x0, 0.65, 0.1)
        for i in range(4):
            curves.keyframe_insert(path.format(i), frame=frame)
    scene.frame_set(7)  # the artist's scene stays on its frame, its Masks posed there
    before = [[tuple(p.co) + tuple(p.handle_left) + tuple(p.handle_right) for p in m.layers[0].splines[0].points]
              for m in (keyed, curves)]
    counts = len(bpy.data.scenes), len(bpy.data.masks), len(bpy.data.objects), len(bpy.data.node_groups)

    fcurve = next(fc for fc in fcurves(curves) if fc.data_path == path.format(0) and fc.array_index == 0)
    frames = [1, 5, 13]
    for frame, matte in zip(frames, rasterise_masks([keyed, curves], frames, (W, H))):
        x0 = fcurve.evaluate(frame)
        inside, outside = square_pixels(*_corner(frame), SIDE, (W, H))
        inside_c, outside_c = square_pixels(x0, 0.65, 0.1, (W, H))
        assert matte[inside].all() and matte[inside_c].all() and not matte[outside & outside_c].any(), frame

    # The artist's Masks and the file are as they were: Blender wrote the rendered frames' poses into the
    # Masks, the rasteriser put theirs back.
    after = [[tuple(p.co) + tuple(p.handle_left) + tuple(p.handle_right) for p in m.layers[0].splines[0].points]
             for m in (keyed, curves)]
    assert after == before and scene.frame_current == 7
    assert (len(bpy.data.scenes), len(bpy.data.masks), len(bpy.data.objects), len(bpy.data.node_groups)) == counts
