"""Redistorting CG in Blender: a compositing scene that renders the import's scene through its overscan camera
and warps the result back onto the plate's lens with the lens package's redistort ST-map.

The scene (``REDISTORT_KEY`` on it) is plate-sized (``W x H``) and plays the camera's frames. Its compositor takes
a Render Layers node of the artist's scene, on the view layer they render (``rendered_view_layer``), rendered at
that scene's own, overscan, resolution, and a Map UV node samples it at the redistort ST-map
(``vggt_core.deliver.lens_package``; its blue channel, 1 where the map is defined, is Map UV's alpha); a zoom's
maps are an image sequence, file ``NNNN`` at frame ``NNNN``. Rendering it writes plate-sized frames that lie over
the original plate (turn on *Film > Transparent* in the artist's scene for CG with alpha). Map UV samples
bilinearly on Blender 5 (CG within 0.04 px of the lens maths in the tests) and with its anisotropic filter on 4.2,
which has no bilinear one (within 0.18 px).

Everything it makes carries the import's mark, so removing the import removes it; the artist's scene and its
compositor are only read.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import bpy

from .datablocks import Ledger, import_id

if TYPE_CHECKING:
    from collections.abc import Callable

    from vggt_core import ShotLens

REDISTORT_KEY = "vggt_redistort"  # on the redistort scene: the folder of its ST-maps; on what it uses: its name
_MADE = ("objects", "cameras", "images", "node_groups")  # the kinds of data a redistort scene is made with


def rendered_view_layer(scene: bpy.types.Scene, active: bpy.types.ViewLayer | None) -> bpy.types.ViewLayer:
    """The view layer of ``scene`` the artist renders: ``active`` (the window's) when it is ``scene``'s and *Use for
    Rendering* is on, else the first of ``scene``'s layers with it on (a first layer turned off is skipped).
    ValueError (one line) when no layer renders."""
    if active is not None and active.use and scene.view_layers.get(active.name) == active:
        return active
    layer = next((v for v in scene.view_layers if v.use), None)
    if layer is None:
        raise ValueError(f"no view layer of scene '{scene.name}' renders: turn on Use for Rendering on the one "
                         "with the CG")
    return layer


def build_redistort_scene(col: bpy.types.Collection, scene: bpy.types.Scene, lens: "ShotLens", maps_dir: str,
                          frames: range, name: str, layer: bpy.types.ViewLayer) -> bpy.types.Scene:
    """The redistort scene of the import ``col`` (named ``"<name> redistort"``), rendering ``scene``'s view layer
    ``layer`` (``rendered_view_layer``) over ``frames`` through the redistort ST-maps in ``maps_dir``
    (``write_lens_package``'s, on those frames for a zoom). A previous redistort scene of this import is replaced.
    On failure nothing is left behind."""
    from vggt_core.deliver import REDISTORT_MAP, REDISTORT_SEQUENCE

    for old in [s for s in bpy.data.scenes if REDISTORT_KEY in s and import_id(s) == import_id(col)]:
        remove_redistort_scene(old)
    ledger = Ledger(import_id(col))
    try:
        out = ledger.add(bpy.data.scenes.new(f"{name} redistort"))
        out[REDISTORT_KEY] = maps_dir

        def ours(idb):  # recorded for a rollback, and marked as this scene's (remove_redistort_scene)
            ledger.add(idb)[REDISTORT_KEY] = out.name
            return idb

        r = out.render
        r.resolution_x, r.resolution_y, r.resolution_percentage = lens.width, lens.height, 100
        r.pixel_aspect_x = r.pixel_aspect_y = 1.0
        r.fps, r.fps_base = scene.render.fps, scene.render.fps_base
        out.frame_start, out.frame_end = frames.start, frames.stop - 1
        r.use_compositing = True
        r.image_settings.file_format = "OPEN_EXR"
        r.image_settings.color_mode = "RGBA"
        r.filepath = f"//{bpy.path.clean_name(name)}_redistorted/####"
        out.view_settings.view_transform = scene.view_settings.view_transform
        cam_data = ours(bpy.data.cameras.new(f"{name} redistort"))  # a render needs one; it sees nothing
        cam = ours(bpy.data.objects.new(f"{name} redistort", cam_data))
        out.collection.objects.link(cam)
        out.camera = cam

        first = frames.start
        path = os.path.join(maps_dir, REDISTORT_SEQUENCE % first if lens.zoom else REDISTORT_MAP)
        if not os.path.isfile(path):
            raise OSError(f"no redistort ST-map at {path}: export the lens package there first")
        img = ours(bpy.data.images.load(path, check_existing=False))
        img.colorspace_settings.name = "Non-Color"  # coordinates, not colour
        if lens.zoom:
            img.source = "SEQUENCE"

        tree, output = _compositor(ours, out, name)
        layers = tree.nodes.new("CompositorNodeRLayers")
        layers.scene = scene
        layers.layer = layer.name
        uv = tree.nodes.new("CompositorNodeImage")
        uv.image = img
        if lens.zoom:  # file n at frame n (Blender reads file frame - frame_start + 1 + frame_offset)
            uv.frame_start, uv.frame_offset, uv.frame_duration = first, first - 1, len(frames)
        warp = tree.nodes.new("CompositorNodeMapUV")
        if "filter_type" in warp.bl_rna.properties:  # 4.2: nearest or anisotropic; 5: an Interpolation input
            warp.filter_type = "ANISOTROPIC"
        tree.links.new(layers.outputs["Image"], warp.inputs["Image"])
        tree.links.new(uv.outputs["Image"], warp.inputs["UV"])
        tree.links.new(warp.outputs[0], output)
    except BaseException:
        ledger.rollback()
        raise
    ledger.seal()
    return out


def _compositor(ours: "Callable[[bpy.types.ID], bpy.types.ID]", scene: bpy.types.Scene,
                name: str) -> tuple[bpy.types.NodeTree, bpy.types.NodeSocket]:
    """``scene``'s (new, empty) compositor tree and the socket its result goes to; ``ours`` records a new
    datablock."""
    if hasattr(scene, "compositing_node_group"):  # Blender 5: the compositor is a node group
        tree = ours(bpy.data.node_groups.new(f"{name} redistort", "CompositorNodeTree"))
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        scene.compositing_node_group = tree
        return tree, tree.nodes.new("NodeGroupOutput").inputs[0]
    scene.use_nodes = True
    tree = scene.node_tree
    tree.nodes.clear()
    return tree, tree.nodes.new("CompositorNodeComposite").inputs[0]


def remove_redistort_scene(scene: bpy.types.Scene) -> None:
    """Remove a redistort scene and what was made with it (its camera, ST-map image, compositor group)."""
    made = [idb for kind in _MADE for idb in getattr(bpy.data, kind)
            if idb.get(REDISTORT_KEY) == scene.name and import_id(idb) == import_id(scene)]
    bpy.data.batch_remove([scene, *made])
