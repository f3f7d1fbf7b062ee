"""Blender Mask datablocks rasterised per frame by Blender's own compositor (its Mask node), main thread only.

Each frame is rendered in a temporary scene of our own (plate resolution, a compositor tree holding one Mask
node per mask, maximum-combined) to a half-float OpenEXR in a temporary folder, read back with
``vggt_core.plate.masks.read_matte`` and removed, as is the scene with everything it held. OpenEXR keeps the Mask
node's coverage linear (no view transform, no 8 bits), so the matte's 0.5 threshold is half coverage: the
middle of a feathered edge, as the artist drew it (through an 8-bit sRGB PNG it was 0.21 coverage, so feathered
edges grew outwards). The compositor's tree: ``scene.compositing_node_group``
with a Group Output in Blender 5, ``scene.node_tree`` with a Composite node before.

Animation, both kinds: F-curves on points or layers, and the layer shape keys the Mask editor's *Insert Key*
makes (interpolated linearly between keys, held before the first and after the last: Blender's
``BKE_mask_layer_evaluate_animation``). The Mask node draws a mask as the *context's* depsgraph evaluated it,
at that scene's frame, not at the rendered scene's (checked in bpy 4.2, 5.0 and 5.2,
``tests/blender/test_mask_shapes.py``), so each frame is rendered with our scene as the context's. Its
depsgraph evaluates every Mask of the file and, being active, writes the result back into the datablocks (as
scrubbing the timeline does): the points of every Mask are saved first and put back after, so the artist's
Masks are as they were.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import bpy
import numpy as np


def rasterise_masks(masks: Sequence[bpy.types.Mask], frames: Sequence[int], size: tuple[int, int]) -> list[np.ndarray]:
    """Per scene frame of ``frames``, ``[H, W]`` bool plate pixels (``size = (W, H)``), True where any of
    ``masks`` covers more than half the pixel (linear coverage, feather included, as Blender draws it: a
    feathered edge's boundary is its feather's middle)."""
    from vggt_core.plate import read_matte

    saved = _snapshot()
    scene = bpy.data.scenes.new("VGGT mask raster")
    made: list = []
    try:
        _setup(scene, list(masks), size, made)
        out = []
        with (tempfile.TemporaryDirectory(prefix="vggt-mask-") as folder,
              bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0])):
            bpy.context.evaluated_depsgraph_get()  # built now, so the first frame_set evaluates the animation
            for n in frames:
                scene.frame_set(int(n))
                scene.render.filepath = os.path.join(folder, f"mask_{len(out)}.exr")
                bpy.ops.render.render(write_still=True)
                out.append(read_matte(scene.render.filepath))
        return out
    finally:
        bpy.data.scenes.remove(scene)
        for block in made:
            collection = bpy.data.node_groups if isinstance(block, bpy.types.NodeTree) else (
                bpy.data.objects if isinstance(block, bpy.types.Object) else bpy.data.cameras)
            collection.remove(block)
        _restore(saved)


# What an evaluation writes back into a Mask point (its BezTriple): control point, handles, feather weight.
_POINT = ("co", "handle_left", "handle_right", "weight")


def _snapshot() -> list[tuple]:
    """``(struct, property, value)`` of all a Mask evaluation may write back: every point's ``_POINT`` values
    and every layer's opacity (F-curves may animate it), in every Mask of the file."""
    saved: list[tuple] = []
    for mask in bpy.data.masks:
        for layer in mask.layers:
            saved.append((layer, "alpha", layer.alpha))
            for spline in layer.splines:
                saved += [(p, key, _value(p, key)) for p in spline.points for key in _POINT]
    return saved


def _value(struct: bpy.types.bpy_struct, key: str) -> object:
    value = getattr(struct, key)
    return tuple(value) if hasattr(value, "__len__") else value


def _restore(saved: list[tuple]) -> None:
    """Set what ``_snapshot`` saved where it changed (an unchanged Mask is not touched)."""
    for struct, key, value in saved:
        if _value(struct, key) != value:
            setattr(struct, key, value)


def _setup(scene: bpy.types.Scene, masks: list, size: tuple[int, int], made: list) -> None:
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = int(size[0]), int(size[1]), 100
    r.use_compositing = True
    r.image_settings.file_format = "OPEN_EXR"  # linear float: coverage as the Mask node computes it
    r.image_settings.color_mode = "RGB"  # 4.2 writes "BW" as RGBA with an opaque alpha, which read_matte takes
    r.image_settings.color_depth = "16"  # half float: 0.5 exactly
    cam_data = bpy.data.cameras.new("VGGT mask raster")  # a render needs a camera, though none is drawn
    cam = bpy.data.objects.new("VGGT mask raster", cam_data)
    made += [cam, cam_data]
    scene.collection.objects.link(cam)
    scene.camera = cam
    if hasattr(scene, "compositing_node_group"):  # Blender 5: the compositor is a node group
        tree = bpy.data.node_groups.new("VGGT mask raster", "CompositorNodeTree")
        made.insert(0, tree)
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        scene.compositing_node_group = tree
        output = tree.nodes.new("NodeGroupOutput").inputs[0]
    else:
        scene.use_nodes = True
        tree = scene.node_tree
        tree.nodes.clear()
        output = tree.nodes.new("CompositorNodeComposite").inputs[0]
    socket = None
    for mask in masks:
        node = tree.nodes.new("CompositorNodeMask")
        node.mask = mask
        if socket is None:
            socket = node.outputs[0]
            continue
        top = tree.nodes.new("ShaderNodeMath" if hasattr(scene, "compositing_node_group") else "CompositorNodeMath")
        top.operation = "MAXIMUM"
        tree.links.new(socket, top.inputs[0])
        tree.links.new(node.outputs[0], top.inputs[1])
        socket = top.outputs[0]
    tree.links.new(socket, output)
