"""Blender Mask datablocks rasterised per plate frame by the compositor (builders/mask_raster.py), and the track
observations under them dropped at the frames where the mask is. Real bpy."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "blender")]

from vggt_blender.builders.mask_raster import rasterise_masks  # noqa: E402
from vggt_core.plate.masks import mask_observations  # noqa: E402

W, H = 64, 36


def _square(name: str, x0: float, y0: float, side: float, moved_at: int | None = None, dx: float = 0.0,
            first: int = 1):
    """A Mask with one square spline (mask coordinates), keyframed at frame ``first`` and moved by ``dx`` at
    ``moved_at``."""
    mask = bpy.data.masks.new(name)
    layer = mask.layers.new()
    spline = layer.splines.new()  # holds one point already
    spline.points.add(3)
    spline.use_cyclic = True
    for p, co in zip(spline.points, [(x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side)]):
        p.co = co
        p.handle_type = "VECTOR"
    if moved_at is not None:
        path = lambda i: f'layers["{layer.name}"].splines[0].points[{i}].co'  # noqa: E731
        for i in range(4):
            mask.keyframe_insert(path(i), frame=first)
        for i, p in enumerate(spline.points):
            p.co = (p.co[0] + dx, p.co[1])
            mask.keyframe_insert(path(i), frame=moved_at)
    return mask


def _expected(x0: float, y0: float, side: float) -> np.ndarray:
    """Pixels whose centre lies in the square, with Blender's mask space for a W x H frame: x spans the width,
    y the same scale about the frame's centre, pointing up."""
    u = (np.arange(W) + 0.5) / W
    v = 0.5 + (H / 2 - (np.arange(H) + 0.5)) / W
    return ((u >= x0) & (u <= x0 + side))[None, :] & ((v >= y0) & (v <= y0 + side))[:, None]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


def test_an_animated_mask_is_rasterised_where_it_is_at_each_frame(scene):
    mask = _square("Roto", 0.2, 0.2, 0.4, moved_at=11, dx=0.3)
    scene.frame_set(4)  # the artist's scene stays on its frame; its mask shows its animation there
    before = [tuple(p.co) for p in mask.layers[0].splines[0].points]
    counts = len(bpy.data.scenes), len(bpy.data.masks), len(bpy.data.objects), len(bpy.data.node_groups)
    first, middle, last = rasterise_masks([mask], [1, 6, 11], (W, H))
    assert first.shape == (H, W)
    assert _iou(first, _expected(0.2, 0.2, 0.4)) > 0.9
    assert _iou(middle, _expected(0.35, 0.2, 0.4)) > 0.9
    assert _iou(last, _expected(0.5, 0.2, 0.4)) > 0.9
    # The artist's mask and the file are as they were: nothing of ours is left behind.
    assert [tuple(p.co) for p in mask.layers[0].splines[0].points] == before and scene.frame_current == 4
    assert (len(bpy.data.scenes), len(bpy.data.masks), len(bpy.data.objects), len(bpy.data.node_groups)) == counts

    # Observations under the mask are dropped at the frames where it is, and only there.
    uv = np.array([[[18.5, 20.5], [50.5, 20.5]]] * 3)  # a point left, a point right, on all three frames
    seen = mask_observations(uv, np.ones((3, 2), bool), [first, middle, last])
    assert seen.tolist() == [[False, True], [True, True], [True, False]]
    assert all(m[20, 18] != s for m, s in zip([first, middle, last], seen[:, 0]))


def test_several_masks_add_up(scene):
    a = _square("A", 0.05, 0.3, 0.2)
    b = _square("B", 0.6, 0.3, 0.2)
    (both,) = rasterise_masks([a, b], [1], (W, H))
    assert _iou(both, _expected(0.05, 0.3, 0.2) | _expected(0.6, 0.3, 0.2)) > 0.85


@pytest.mark.parametrize("falloff", ["SMOOTH", "LINEAR"])
def test_a_feathered_edge_is_cut_at_half_coverage(scene, falloff):
    """A rectangle feathered outwards by ``f`` (mask units; Blender's falloff from 1 at the spline to 0 at the
    feather's edge, either way symmetric about its middle): the matte's edge is the feather's middle, half
    coverage, not where an sRGB-encoded 0.5 would put it (0.21 coverage, 2.5 to 3.7 px further out here)."""
    w, h, x0, y0, x1, y1, f = 128, 64, 0.3, 0.4, 0.7, 0.6, 0.1
    mask = bpy.data.masks.new("Feathered")
    layer = mask.layers.new()
    layer.falloff = falloff
    spline = layer.splines.new()
    spline.points.add(3)
    spline.use_cyclic = True
    corners = [(x0, y0), (x0, y1), (x1, y1), (x1, y0)]  # clockwise: the feather outside
    for p, co in zip(spline.points, corners):
        p.co, p.handle_type, p.weight = co, "VECTOR", f
    (matte,) = rasterise_masks([mask], [1], (w, h))
    row = np.flatnonzero(matte[h // 2])  # through the middle of the left and right edges, clear of the corners
    assert abs(row[0] - (x0 - f / 2) * w) <= 1.0 and abs(row[-1] + 1 - (x1 + f / 2) * w) <= 1.0, row
    col = np.flatnonzero(matte[:, w // 2])  # mask y points up about the frame's centre, in units of its width
    top, bottom = h / 2 - (y1 + f / 2 - 0.5) * w, h / 2 - (y0 - f / 2 - 0.5) * w  # 12.8 and 51.2 px
    assert abs(col[0] - top) <= 1.0 and abs(col[-1] + 1 - bottom) <= 1.0, col


def _panel(tmp_path, frames: int):
    """The panel of an empty scene from frame 1, refining a folder of ``frames`` W x H images numbered from 1001
    (``shot.1001.png``...: the import keys and shows them on 1001..., where the artist draws masks over them)."""
    from ext_helpers import write_images

    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start = 1
    props = scene.vggt
    folder = write_images(tmp_path / "imgs", frames, size=(W, H))
    for i, path in enumerate(sorted(folder.iterdir())):
        path.rename(folder / f"shot.{1001 + i}.png")
    props.source_type, props.folder = "FOLDER", str(folder)
    props.refine = True
    return props


def _add_row(props, mask) -> None:
    assert bpy.ops.vggt.mask_add() == {"FINISHED"}
    props.masks[props.masks_index].mask = mask


def test_the_panels_masks_reach_the_run_as_arrays_on_the_frames_timeline(addon, tmp_path):
    from vggt_blender.runs import runs

    props = _panel(tmp_path, 3)
    assert runs.plan_from_scene(bpy.context).job.masks is None
    _add_row(props, _square("Roto", 0.2, 0.2, 0.4, moved_at=1003, dx=0.3, first=1001))  # the plate's 1001..1003
    plan = runs.plan_from_scene(bpy.context)
    first, _, last = plan.job.masks
    assert _iou(first, _expected(0.2, 0.2, 0.4)) > 0.9 and _iou(last, _expected(0.5, 0.2, 0.4)) > 0.9
    assert plan.job.settings.mask.startswith("<Blender masks 'Roto', sha256 ") and not plan.job.settings.mask_blank
    props.mask_blank = True
    assert runs.plan_from_scene(bpy.context).job.settings.mask_blank
    # Moving the mask changes the settings (and so the cache key): a new mask is a new solve.
    roto = props.masks[0].mask
    roto.layers[0].splines[0].points[0].co[0] -= 0.1
    roto.animation_data_clear()
    assert runs.plan_from_scene(bpy.context).job.settings.mask != plan.job.settings.mask
    normal = runs.plan_from_scene(bpy.context).job.masks
    props.mask_invert = True
    inverted = runs.plan_from_scene(bpy.context).job.masks
    assert all((a == ~b).all() for a, b in zip(inverted, normal))


def test_two_masks_in_the_list_each_keep_their_region_out(addon, tmp_path):
    from test_mask_shapes import shape_keyed_square

    from vggt_blender.runs import runs
    from vggt_core.errors import InputError

    props = _panel(tmp_path, 3)
    left = _square("Left", 0.05, 0.3, 0.2)
    right = shape_keyed_square("Right", {1001: (0.6, 0.3), 1003: (0.7, 0.3)}, 0.2)  # keyed in the Mask editor
    bpy.context.scene.frame_set(1001)
    _add_row(props, left)
    one = runs.plan_from_scene(bpy.context)
    _add_row(props, right)
    both = runs.plan_from_scene(bpy.context)
    for f, matte in enumerate(both.job.masks):
        assert _iou(matte, _expected(0.05, 0.3, 0.2) | _expected(0.6 + 0.05 * f, 0.3, 0.2)) > 0.85, f
    # A point in each mask is kept out of the solve on every frame, one between them on none.
    uv = np.array([[[10.5, 24.5], [45.5, 24.5], [28.5, 24.5]]] * 3)
    seen = mask_observations(uv, np.ones((3, 3), bool), both.job.masks)
    assert seen.tolist() == [[False, False, True]] * 3
    assert both.job.settings.mask.startswith("<Blender masks 'Left', 'Right', sha256 ")
    assert len({one.job.settings.mask, both.job.settings.mask}) == 2  # another list, another solve key

    # A row without a Mask stops the run before anything is rasterised, in one line; so does a deleted Mask.
    assert bpy.ops.vggt.mask_add() == {"FINISHED"}
    scenes = len(bpy.data.scenes)
    with pytest.raises(InputError, match=r"^Masks: row 3 has no Mask .*: pick one or remove the row$"):
        runs.plan_from_scene(bpy.context)
    assert len(bpy.data.scenes) == scenes
    assert bpy.ops.vggt.mask_remove() == {"FINISHED"} and props.masks_index == 1
    bpy.data.masks.remove(left)
    with pytest.raises(InputError, match="row 1 has no Mask"):
        runs.plan_from_scene(bpy.context)
    props.masks_index = 0
    assert bpy.ops.vggt.mask_remove() == {"FINISHED"}
    assert [s.mask for s in props.masks] == [right] and right.name in bpy.data.masks
    (matte, *_) = runs.plan_from_scene(bpy.context).job.masks
    assert _iou(matte, _expected(0.6, 0.3, 0.2)) > 0.85
    # a matte folder beside the Masks: their union (the matte's own region: the top-left quarter)
    from PIL import Image

    (tmp_path / "mattes").mkdir()
    quarter = np.zeros((H, W), np.uint8)
    quarter[:H // 2, :W // 2] = 255
    for i in range(3):
        Image.fromarray(quarter).save(tmp_path / "mattes" / f"matte_{1001 + i}.png")  # numbered as the plate
    props.mask_path = str(tmp_path / "mattes")
    plan = runs.plan_from_scene(bpy.context)
    (matte, *_) = plan.job.masks
    assert _iou(matte, _expected(0.6, 0.3, 0.2) | (quarter > 0)) > 0.9
    assert "and matte" in plan.job.settings.mask and plan.job.settings.mask.startswith("<Blender masks 'Right'")


def test_a_matte_folder_in_the_panel_is_checked_before_the_run(addon, tmp_path):
    from ext_helpers import write_images

    from vggt_blender.runs import runs
    from vggt_core.errors import InputError

    bpy.ops.wm.read_homefile(use_empty=True)
    props = bpy.context.scene.vggt
    props.source_type, props.folder = "FOLDER", str(write_images(tmp_path / "imgs", 2, size=(W, H)))
    (tmp_path / "mattes").mkdir()
    props.mask_path = str(tmp_path / "mattes")
    with pytest.raises(InputError, match="matte"):
        runs.plan_from_scene(bpy.context)
