"""Re-import from Cache (Replace) against real bpy: only what the import created goes; the artist's
objects, parents, world positions and data stay; no orphans or ".001" names pile up. No torch."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(Path(__file__).parent)]

import addon_utils  # noqa: E402

from ext_helpers import write_images  # noqa: E402
from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.builders.ownership import remove_import  # noqa: E402

DATA = ("objects", "meshes", "cameras", "collections", "materials", "node_groups", "images", "movieclips", "actions")


@pytest.fixture(scope="module")
def addon():
    addon_utils.enable("vggt_blender", default_set=True)
    yield
    addon_utils.disable("vggt_blender", default_set=True)


@pytest.fixture()
def imported(addon, tmp_path):
    """A scene with one import (images on disk, a cache file) of 3 frames; returns its collection."""
    from vggt_core.run import cache

    bpy.ops.wm.read_homefile(use_empty=True)
    folder = write_images(tmp_path / "imgs", 3)
    recon = make_recon([(64, 48)] * 3, image_paths=[str(p) for p in sorted(folder.iterdir())])
    path = cache.save(recon, tmp_path / "recon.npz")
    settings = convert.ImportSettings(proxy_every=1, conf_percentile=0.0)
    col = import_reconstruction(recon, settings, bpy.context.scene, name="VGGT shot", cache_path=str(path))
    bpy.context.view_layer.active_layer_collection = bpy.context.view_layer.layer_collection.children[col.name]
    return col


def _counts() -> dict[str, int]:
    return {k: len(getattr(bpy.data, k)) for k in DATA}


def _root(col):
    return next(o for o in col.objects if o.get("vggt_root"))


def _artist_additions(col):
    """What an artist does to an import: a prop in its collection, a marker parented to its root and
    one parented to a camera (moved), a nested collection, and the import's material on their own mesh."""
    prop = bpy.data.objects.new("prop", bpy.data.meshes.new("prop"))
    col.objects.link(prop)
    marker = bpy.data.objects.new("marker", None)
    col.objects.link(marker)
    marker.parent = _root(col)
    marker.location = (1.0, 2.0, 3.0)
    cam = next(o for o in col.all_objects if o.type == "CAMERA" and "vggt_frame" in o)
    tag = bpy.data.objects.new("tag", None)
    bpy.context.scene.collection.objects.link(tag)
    tag.parent, tag.location = cam, (0.0, 0.0, -2.0)
    nested = bpy.data.collections.new("notes")
    col.children.link(nested)
    points = next(o for o in col.all_objects if o.modifiers)
    prop.data.materials.append(points.data.materials[0])
    bpy.context.view_layer.update()
    return prop, marker, tag, nested


def _marked_names() -> dict[str, list[str]]:
    return {k: sorted(x.name for x in getattr(bpy.data, k) if "vggt_import" in x) for k in DATA}


def test_replace_keeps_artist_objects_and_leaves_no_orphans(imported):
    col = imported
    import_names = _marked_names()
    prop, marker, tag, nested = _artist_additions(col)
    worlds = {o.name: np.array(o.matrix_world) for o in (prop, marker, tag)}
    shared_material = prop.data.materials[0]
    counts_before = _counts()

    assert bpy.ops.vggt.reimport(use_panel_settings=False) == {"FINISHED"}
    bpy.context.view_layer.update()

    new = bpy.data.collections["VGGT shot"]
    # The artist's objects survive, in the new import, at the same world positions.
    for obj in (prop, marker, tag):
        assert obj.name in bpy.data.objects
        np.testing.assert_allclose(np.array(obj.matrix_world), worlds[obj.name], atol=1e-6)
    assert prop.name in new.objects and marker.name in new.objects
    assert marker.parent == _root(new) and tag.parent == _root(new)
    assert new.children.get("notes") == nested
    # The material they use stays (now theirs); everything else the old import made is gone, and
    # the new import has the old one's names (no ".001").
    assert prop.data.materials[0] == shared_material and "vggt_import" not in shared_material
    assert _counts() == dict(counts_before, materials=counts_before["materials"] + 1)
    assert _marked_names() == import_names


def test_remove_without_heir_keeps_artist_objects_in_place(imported):
    col = imported
    prop, marker, tag, nested = _artist_additions(col)
    prop.data.materials.clear()
    worlds = {o.name: np.array(o.matrix_world) for o in (prop, marker, tag)}
    baseline_images = [i for i in bpy.data.images if "vggt_import" not in i]

    remove_import(col)
    bpy.context.view_layer.update()

    scene_col = bpy.context.scene.collection
    for obj in (prop, marker, tag):
        assert obj.parent is None
        np.testing.assert_allclose(np.array(obj.matrix_world), worlds[obj.name], atol=1e-6)
    assert prop.name in scene_col.objects and marker.name in scene_col.objects
    assert scene_col.children.get("notes") == nested
    # Every datablock the import created is gone, the artist's stay.
    for kind in DATA:
        assert not [x.name for x in getattr(bpy.data, kind) if "vggt_import" in x], kind
    assert sorted(bpy.data.objects.keys()) == ["marker", "prop", "tag"]
    assert list(bpy.data.images) == baseline_images


def test_artist_images_are_reused_not_removed(addon, tmp_path):
    bpy.ops.wm.read_homefile(use_empty=True)
    folder = write_images(tmp_path / "imgs", 2)
    paths = [str(p) for p in sorted(folder.iterdir())]
    theirs = bpy.data.images.load(paths[0])
    recon = make_recon([(64, 48)] * 2, image_paths=paths)
    col = import_reconstruction(recon, convert.ImportSettings(point_cloud=False, proxy_every=1), bpy.context.scene)
    bg = [o.data.background_images[0].image for o in col.all_objects if o.type == "CAMERA" and "vggt_frame" in o]
    assert bg[0] == theirs and "vggt_import" not in theirs and "vggt_import" in bg[1]
    remove_import(col)
    assert list(bpy.data.images) == [theirs]


def test_animated_camera_has_one_action(addon):
    bpy.ops.wm.read_homefile(use_empty=True)
    recon = make_recon([(640, 360)] * 4)  # the focal length varies: lens is keyed on the camera data
    col = import_reconstruction(recon, convert.ImportSettings(per_frame_cameras=False, point_cloud=False,
                                                              depth_proxies=False), bpy.context.scene)
    cam = next(o for o in col.objects if o.type == "CAMERA")
    assert cam.data.animation_data.action is not None
    layered = bpy.app.version >= (4, 4)  # one action with a slot per datablock; 4.2: one action per ID type
    assert len(bpy.data.actions) == (1 if layered else 2)
    if layered:
        assert cam.data.animation_data.action == cam.animation_data.action
        fcurves = {fc.data_path for layer in cam.animation_data.action.layers for strip in layer.strips
                   for bag in strip.channelbags for fc in bag.fcurves}
        assert {"location", "rotation_euler", "lens"} <= fcurves


def test_artist_duplicates_of_imported_objects_survive(imported):
    """Shift+D copies custom properties (the import's mark) but not the name: the copy is the artist's."""
    col = imported
    cam = next(o for o in col.all_objects if o.type == "CAMERA" and "vggt_frame" in o)
    points = next(o for o in col.all_objects if o.modifiers)
    cam_copy, points_copy = cam.copy(), points.copy()
    points_copy.data = points.data.copy()
    for obj in (cam_copy, points_copy):
        bpy.context.scene.collection.objects.link(obj)
    assert cam_copy.get("vggt_import") == cam.get("vggt_import")  # the mark came along, as with Shift+D

    assert bpy.ops.vggt.reimport(use_panel_settings=False) == {"FINISHED"}

    assert cam_copy.name in bpy.data.objects and points_copy.name in bpy.data.objects
    assert points_copy.data.name in bpy.data.meshes and len(points_copy.data.vertices) > 0
    remove_import(bpy.data.collections["VGGT shot"])
    assert sorted(bpy.data.objects.keys()) == sorted([cam_copy.name, points_copy.name])
