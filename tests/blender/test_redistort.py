"""Redistorting CG in Blender (``builders.redistort``, *Export > Redistort Scene*), on real bpy with Cycles.

The plates of the fixed-lens and zoom tests (``test_undistorted_plate``, ``test_zoom_lens``): discs on the rays of
the points whose dots the plate holds, rendered through the overscan camera by the redistort scene's compositor
(Render Layers of the import's scene -> Map UV with the redistort ST-map), come out plate-sized with each disc
where the lens maths (``LensPackage.distort`` / the zoom test's radial model written out) puts the point on the
plate: within 0.1 px on Blender 5 (Map UV bilinear; measured 0.04 px), 0.25 px on 4.2 (its Map UV filters only
nearest or anisotropically; measured 0.18 px).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "tests"), str(Path(__file__).parent)]

import test_undistorted_plate as fixed  # noqa: E402
import test_zoom_lens as zoom  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.builders.ownership import remove_import  # noqa: E402
from vggt_blender.deliver.lens import redistort_scene  # noqa: E402

TOLERANCE_PX = 0.1 if bpy.app.version >= (5, 0) else 0.25


def _discs_on_rays(root, anim, ext, rays, focal):
    """Discs at depth 2 on ``rays`` ([N, 3] camera-frame directions of a frame with camera-from-world ``ext``)."""
    bpy.context.view_layer.update()  # the root's world matrix of a fresh import
    m = np.asarray(root.matrix_world)
    world = (2.0 * rays - ext[:, 3]) @ ext[:, :3]
    return [fixed._disc(f"disc {j}", anim, (m[:3, :3] @ p + m[:3, 3]).tolist(),
                        radius=2.2 * 2.0 * np.linalg.norm(m[:3, 0]) / focal) for j, p in enumerate(world)]


def _render(out_scene, frame: int, path: Path) -> np.ndarray:
    """Render the redistort scene's ``frame`` as an animation of that one frame, as the artist renders it: a still
    render from a script reads image sequences at the window scene's frame, an animation at its own."""
    span, filepath = (out_scene.frame_start, out_scene.frame_end), out_scene.render.filepath
    out_scene.frame_start = out_scene.frame_end = frame
    out_scene.render.filepath = str(path.with_suffix("")) + "_####"
    try:
        bpy.ops.render.render(animation=True, scene=out_scene.name)
    finally:
        (out_scene.frame_start, out_scene.frame_end), out_scene.render.filepath = span, filepath
    return fixed._read(f"{path.with_suffix('')}_{frame:04d}.exr")


def _imported(recon, tmp_path: Path):
    """(collection, root, scene, animated camera) of ``recon`` imported, its objects hidden from Cycles."""
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, undistorted_dir=str(tmp_path / "u")),
                                bpy.context.scene)
    scene = bpy.context.scene
    for obj in scene.objects:
        obj.hide_render = True
    fixed.cycles_on_black(scene, 64)
    return col, next(o for o in col.objects if o.get("vggt_root")), scene, scene.camera


def test_the_redistort_scene_puts_cg_on_the_plates_lens(tmp_path):
    bpy.ops.wm.read_homefile(use_empty=True)
    recon, lens, _ = fixed._shot(tmp_path)
    col, root, scene, anim = _imported(recon, tmp_path)
    rays = np.c_[(fixed.UNDISTORTED_PX - [lens.cx, lens.cy]) / lens.fx, np.ones(4)]
    _discs_on_rays(root, anim, recon.extrinsics[0].astype(np.float64), rays, lens.fx)

    def compositor(sc):  # the artist's scene's compositor, which the redistort scene only reads
        group = getattr(sc, "compositing_node_group", None)
        return (group, None if hasattr(sc, "compositing_node_group") else sc.use_nodes)

    before = compositor(scene)
    out = redistort_scene(bpy.context, root, str(tmp_path / "lens"))
    assert (out.render.resolution_x, out.render.resolution_y) == (fixed.W, fixed.H)
    assert (out.frame_start, out.frame_end) == (1001, 1005)
    assert sorted(os.listdir(tmp_path / "lens")) == ["lens.json", "stmap_redistort.exr", "stmap_undistort.exr"]
    assert compositor(scene) == before
    render = _render(out, 1001, tmp_path / "redistorted.exr")
    assert render.shape == (fixed.H, fixed.W)
    plate = fixed._read(recon.frames[0].source)
    for want in lens.distort(fixed.UNDISTORTED_PX):
        got = fixed._centroid(render, want)
        assert np.hypot(*(got - want)) < TOLERANCE_PX, (want, got)
        assert np.hypot(*(got - fixed._centroid(plate, want))) < TOLERANCE_PX  # on the plate's own dot

    again = redistort_scene(bpy.context, root, str(tmp_path / "lens"))  # replaces, never piles up
    assert [s for s in bpy.data.scenes if "vggt_redistort" in s] == [again]
    scene.camera = next(o for o in root.children_recursive if o.type == "CAMERA" and "vggt_frame" in o)
    with pytest.raises(ValueError, match="make the import's camera"):
        redistort_scene(bpy.context, root, str(tmp_path / "lens"))
    scene.camera = anim
    remove_import(col)
    assert not [s for s in bpy.data.scenes if "vggt_redistort" in s] and len(bpy.data.scenes) == 1


def test_a_zooms_redistort_scene_takes_each_frames_map(tmp_path):
    bpy.ops.wm.read_homefile(use_empty=True)
    recon, focals, c = zoom._shot(tmp_path)
    col, root, scene, anim = _imported(recon, tmp_path)
    out = redistort_scene(bpy.context, root, str(tmp_path / "lens"))
    assert sorted(p for p in os.listdir(tmp_path / "lens") if p.startswith("stmap_redistort")) == [
        f"stmap_redistort.{n}.exr" for n in zoom.NUMBERS]
    for i, n in ((0, 1001), (2, 1005)):
        rays = np.c_[(zoom.UNDISTORTED_PX - c) / focals[n], np.ones(4)]
        discs = _discs_on_rays(root, anim, recon.extrinsics[i].astype(np.float64), rays, focals[n])
        render = _render(out, n, tmp_path / f"redistorted{n}.exr")
        for want in zoom._distort(zoom.UNDISTORTED_PX, focals[n], c):
            got = fixed._centroid(render, want)
            assert np.hypot(*(got - want)) < TOLERANCE_PX, (n, want, got)
        for d in discs:
            d.hide_render = True


def _render_layers(out):
    tree = getattr(out, "compositing_node_group", None) or out.node_tree
    return next(n for n in tree.nodes if n.bl_idname == "CompositorNodeRLayers")


def test_the_redistort_scene_renders_the_view_layer_the_artist_renders(tmp_path):
    """The artist's first view layer is off (*Use for Rendering*, a reference layer, say) and the CG is on
    another: the redistort scene renders that one, so its frames hold the CG; the window's layer, when it renders,
    wins over the first; with no layer rendering it says what to do, in one line, and makes nothing."""
    bpy.ops.wm.read_homefile(use_empty=True)
    recon, lens, _ = fixed._shot(tmp_path)
    col, root, scene, anim = _imported(recon, tmp_path)
    scene.cycles.samples = 4  # the discs only need to show
    rays = np.c_[(fixed.UNDISTORTED_PX - [lens.cx, lens.cy]) / lens.fx, np.ones(4)]
    _discs_on_rays(root, anim, recon.extrinsics[0].astype(np.float64), rays, lens.fx)
    reference = scene.view_layers[0]
    reference.use = False
    cg = scene.view_layers.new("CG")  # every collection included, as Blender makes it
    assert bpy.context.view_layer == reference  # the window shows the layer that does not render

    out = redistort_scene(bpy.context, root, str(tmp_path / "lens"))
    assert _render_layers(out).layer == "CG"
    render = _render(out, 1001, tmp_path / "redistorted.exr")
    for want in lens.distort(fixed.UNDISTORTED_PX):  # the CG is there, where the lens puts it
        assert np.hypot(*(fixed._centroid(render, want) - want)) < 0.5, want

    reference.use = True
    assert _render_layers(redistort_scene(bpy.context, root, str(tmp_path / "lens"))).layer == "ViewLayer"
    with bpy.context.temp_override(view_layer=cg):  # the artist looks at (and renders) the CG layer
        assert _render_layers(redistort_scene(bpy.context, root, str(tmp_path / "lens"))).layer == "CG"
    reference.use = cg.use = False
    scenes = list(bpy.data.scenes)
    with pytest.raises(ValueError, match="^no view layer of scene .* renders: turn on Use for Rendering"):
        redistort_scene(bpy.context, root, str(tmp_path / "lens"))
    assert len(bpy.data.scenes) == len(scenes)
