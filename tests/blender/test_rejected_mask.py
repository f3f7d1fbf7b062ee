"""*Mask From Rejected Tracks* (operators/mask_ops.py): on a solved shot with a mover, imported with markers, a
new Mask of the import's own around the red markers, animated on the plate's frames and added to the panel's
Masks; rasterised by Blender's compositor (builders/mask_raster.py). Real bpy."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "blender")]

from mover_shots import make_mover_shot  # noqa: E402
from solve_shots import shot_recon  # noqa: E402
from test_sources import H, W, _write_images  # noqa: E402
from vggt_core.solve import solve  # noqa: E402

FRAMES = 6


@pytest.fixture()
def imported(addon, tmp_path):
    """A mover shot solved (rejection on), imported with markers over a numbered plate starting at 1001."""
    from vggt_blender import convert
    from vggt_blender.builders import import_reconstruction
    from vggt_blender.runs import sources
    from vggt_core.plate.frames import list_frames

    bpy.ops.wm.read_homefile(use_empty=True)  # keeps the add-on (a factory reset would not)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = W, H, 100
    paths = _write_images(tmp_path / "plate", FRAMES)
    for i, p in enumerate(paths):  # numbered from 1001, as plates often are
        p.rename(p.with_name(f"plate_{1001 + i}.png"))
    res = sources.from_folder(str(tmp_path / "plate"), stride=1, start=0)
    infos = list_frames(res.inputs, res.selection)
    ms = make_mover_shot(0.25, frames=FRAMES, tracks=120, size=(W, H), focal_px=40.0, noise_px=0.01,
                         outliers=0.0, travel=(0.0, -3.0, 0.0))
    recon = solve(shot_recon(ms.shot), lens="shared", refine="ba")
    assert recon.moving_tracks is not None and len(recon.moving_tracks)
    recon = replace(recon, frames=list(infos))
    settings = convert.ImportSettings(point_cloud=False, depth_proxies=False, track_markers=True, plate=res.plate)
    col = import_reconstruction(recon, settings, scene)
    return scene, col, recon, ms


def _select(col) -> None:
    bpy.context.view_layer.active_layer_collection = bpy.context.view_layer.layer_collection.children[col.name]


def test_mask_from_rejected_tracks_covers_them_and_goes_with_the_import(imported):
    from ext_helpers import fcurves

    from vggt_blender.builders.mask_raster import rasterise_masks
    from vggt_blender.builders.ownership import remove_import
    from vggt_core.solve.tracks import observations

    scene, col, recon, ms = imported
    theirs = bpy.data.masks.new("Artist roto")  # the artist's own Mask is never edited, and stays listed
    theirs.layers.new().splines.new().points[0].co = (0.3, 0.4)
    scene.vggt.masks.add().mask = theirs
    _select(col)
    assert bpy.ops.vggt.mask_from_rejected() == {"FINISHED"}
    assert [s.mask for s in scene.vggt.masks][:1] == [theirs] and scene.vggt.masks_index == 1
    ours = scene.vggt.masks[1].mask
    assert ours is not None and ours != theirs and ours.name == f"{col.name} moving"
    assert len(theirs.layers) == 1 and tuple(theirs.layers[0].splines[0].points[0].co) == pytest.approx((0.3, 0.4))

    timeline = [int(n) for n in col["vggt_frame_numbers"]]
    mattes = rasterise_masks([ours], timeline, (W, H))
    uv, seen = observations(recon)
    rejected = np.zeros(uv.shape[1], bool)
    rejected[np.asarray(recon.moving_tracks, np.int64)] = True
    px = np.clip(np.floor(uv).astype(int), 0, [W - 1, H - 1])
    inside = np.stack([m[px[s, :, 1], px[s, :, 0]] for s, m in enumerate(mattes)])
    in_frame = seen & np.all((uv >= 0) & (uv < [W, H]), axis=-1)
    covered = inside[in_frame & rejected[None]].mean()
    static = inside[in_frame & ~ms.moving[None]].mean()
    assert covered >= 0.95 and static < 0.10, (covered, static)
    # Drawn where the red markers are (Blender's Mask space, checked by its raster): on each frame, the
    # rasterised outline spans the rejected observations grown by the margin (3 % of the width), to a pixel.
    margin = 0.03 * W
    for s, matte in enumerate(mattes):
        obs = uv[s, seen[s] & rejected]
        lo = np.maximum(obs.min(axis=0) - margin, 0.0)
        hi = np.minimum(obs.max(axis=0) + margin, [W, H])
        cols, rows = np.flatnonzero(matte.any(axis=0)), np.flatnonzero(matte.any(axis=1))
        np.testing.assert_allclose([cols[0], rows[0]], lo - 0.5, atol=1.0)
        np.testing.assert_allclose([cols[-1], rows[-1]], hi - 0.5, atol=1.0)

    assert sorted({int(k.co[0]) for fc in fcurves(ours) for k in fc.keyframe_points}) == timeline

    remove_import(col)
    assert list(bpy.data.masks) == [theirs] and [s.mask for s in scene.vggt.masks] == [theirs, None]


def test_the_mask_from_rejected_tracks_survives_a_rebuild_of_its_import(imported):
    """*Re-solve* and *Re-import* rebuild the import in its place: the Mask the artist adjusted goes to the
    new import (and with it when it is removed), still listed in the panel."""
    from vggt_blender import convert
    from vggt_blender.builders.datablocks import import_id
    from vggt_blender.builders.ownership import remove_import
    from vggt_blender.runs.runs import rebuild_import

    scene, col, recon, ms = imported
    _select(col)
    assert bpy.ops.vggt.mask_from_rejected() == {"FINISHED"}
    ours = scene.vggt.masks[0].mask
    name = ours.name
    ours.layers[0].splines[0].points[0].co[0] -= 0.05  # adjusted by the artist
    adjusted = tuple(ours.layers[0].splines[0].points[0].co)
    settings = convert.ImportSettings(point_cloud=False, depth_proxies=False, track_markers=True)
    level, _ = rebuild_import(scene, col, ("done", recon, None), settings)
    assert level == "INFO"
    (new,) = [c for c in bpy.data.collections if "vggt_settings" in c]
    assert list(bpy.data.masks) == [ours] and ours.name == name and import_id(ours) == import_id(new)
    assert scene.vggt.masks[0].mask == ours and tuple(ours.layers[0].splines[0].points[0].co) == adjusted
    remove_import(new)
    assert not len(bpy.data.masks)


def test_without_enabled_red_markers_it_says_what_to_do_and_makes_nothing(imported):
    scene, col, recon, ms = imported
    clip = next(c for c in bpy.data.movieclips if len(c.tracking.tracks))
    for t in [t for t in clip.tracking.tracks if " moving " in t.name]:  # the artist disabled the red markers
        for m in t.markers:
            m.mute = True
    _select(col)
    with pytest.raises(RuntimeError, match="no rejected tracks"):
        bpy.ops.vggt.mask_from_rejected()
    assert not len(bpy.data.masks) and not len(scene.vggt.masks)
