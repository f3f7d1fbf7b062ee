"""Redistorting CG in Blender: a compositing scene that renders the import's scene through its overscan camera
and warps the result back onto the plate's lens with the lens package's redistort ST-map.

The scene (``REDISTORT_KEY`` on it) is plate-sized (``W x H``) and plays the camera's frames. Its compositor takes
a Render Layers node of the artist's scene (rendered at that scene's own, overscan, resolution), and a Map UV node
samples it at the redistort ST-map (``vggt_core.lens_package``; its blue channel, 1 where the map is defined, is
Map UV's alpha); a zoom's maps are an image sequence, file ``NNNN`` at frame ``NNNN``. Rendering it writes
plate-sized frames that lie over the original plate (turn on *Film > Transparent* in the artist's scene for CG
with alpha). Map UV samples bilinearly on Blender 5 (CG within 0.04 px of the lens maths in the tests) and with
its anisotropic filter on 4.2, which has no bilinear one (within 0.18 px).

Everything it makes carries the import's mark, so removing the import removes it; the artist's scene and its
compositor are only read.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import bpy

from .datablocks import Ledger, import_id

if TYPE_CHECKING:
    from vggt_core.lens_package import ShotLens

REDISTORT_KEY = "vggt_redistort"  # on the redistort scene: the folder of its ST-maps


def build_redistort_scene(col: bpy.types.Collection, scene: bpy.types.Scene, lens: "ShotLens", maps_dir: str,
                          frames: range, name: str) -> bpy.types.Scene:
    """The redistort scene of the import ``col`` (named ``"<name> redistort"``), rendering ``scene`` over
    ``frames`` through the redistort ST-maps in ``maps_dir`` (``write_lens_package``'s, on those frames for a
    zoom). A previous redistort scene of this import is replaced. On failure nothing is left behind."""
    from vggt_core.lens_package import REDISTORT_MAP, REDISTORT_SEQUENCE

    for old in [s for s in bpy.data.scenes if REDISTORT_KEY in s and import_id(s) == import_id(col)]:
        remove_redistort_scene(old)
    ledger = Ledger(import_id(col))
    try:
        out = ledger.add(bpy.data.scenes.new(f"{name} redistort"))
        out[REDISTORT_KEY] = maps_dir
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
        cam_data = ledger.add(bpy.data.cameras.new(f"{name} redistort"))  # a render needs one; it sees nothing
        cam = ledger.add(bpy.data.objects.new(f"{name} redistort", cam_data))
        out.collection.objects.link(cam)
        out.camera = cam

        first = frames.start
        path = os.path.join(maps_dir, REDISTORT_SEQUENCE % first if lens.zoom else REDISTORT_MAP)
        if not os.path.isfile(path):
            raise OSError(f"no redistort ST-map at {path}: export the lens package there first")
        img = ledger.add(bpy.data.images.load(path, check_existing=False))
        img.colorspace_settings.name = "Non-Color"  # coordinates, not colour
        if lens.zoom:
            img.source = "SEQUENCE"

        tree, output = _compositor(ledger, out, name)
        layers = tree.nodes.new("CompositorNodeRLayers")
        layers.scene = scene
        layers.layer = scene.view_layers[0].name
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


def _compositor(ledger: Ledger, scene: bpy.types.Scene, name: str) -> tuple[bpy.types.NodeTree, bpy.types.NodeSocket]:
    """``scene``'s (new, empty) compositor tree and the socket its result goes to."""
    if hasattr(scene, "compositing_node_group"):  # Blender 5: the compositor is a node group
        tree = ledger.add(bpy.data.node_groups.new(f"{name} redistort", "CompositorNodeTree"))
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        scene.compositing_node_group = tree
        return tree, tree.nodes.new("NodeGroupOutput").inputs[0]
    scene.use_nodes = True
    tree = scene.node_tree
    tree.nodes.clear()
    return tree, tree.nodes.new("CompositorNodeComposite").inputs[0]


def remove_redistort_scene(scene: bpy.types.Scene) -> None:
    """Remove a redistort scene and the data only it used (its camera, ST-map image, compositor group)."""
    used: list[bpy.types.ID] = [o for o in scene.collection.objects]
    used += [o.data for o in used if o.data is not None]
    group = getattr(scene, "compositing_node_group", None)  # Blender 5; 4.2's tree is the scene's own
    tree = group if group is not None or hasattr(scene, "compositing_node_group") else scene.node_tree
    if tree is not None:
        used += [n.image for n in tree.nodes if n.bl_idname == "CompositorNodeImage" and n.image is not None]
    if group is not None:
        used.append(group)
    bpy.data.batch_remove([scene, *(idb for idb in used if import_id(idb) == import_id(scene))])
