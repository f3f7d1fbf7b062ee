"""Blender Mask datablocks rasterised per frame by Blender's own compositor (its Mask node), main thread only.

The artist's masks are read, never written: each frame is rendered in a temporary scene of our own (plate
resolution, a compositor tree holding one Mask node per mask, maximum-combined) to a PNG in a temporary folder,
read back with ``vggt_core.masks.read_matte`` and removed, as is the scene with everything it held. The
compositor's tree: ``scene.compositing_node_group`` with a Group Output in Blender 5, ``scene.node_tree`` with a
Composite node before.

Animation: the Mask node evaluates a mask's shape keys (what the Mask editor's Insert Key makes) at the
rendered scene's frame, but F-curves on its points are evaluated by the *current* scene's depsgraph, at its
frame (checked in bpy 4.2, 5.0 and 5.2). So each mask is rendered from a copy without animation data whose
animated values we set from the artist's F-curves at the plate frame (``FCurve.evaluate``: read only).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import bpy
import numpy as np


def rasterise_masks(masks: Sequence[bpy.types.Mask], frames: Sequence[int], size: tuple[int, int]) -> list[np.ndarray]:
    """Per scene frame of ``frames``, ``[H, W]`` bool plate pixels (``size = (W, H)``), True where any of
    ``masks`` covers more than half the pixel (feather included, as Blender draws it)."""
    from vggt_core.masks import read_matte

    scene = bpy.data.scenes.new("VGGT mask raster")
    copies = [m.copy() for m in masks]
    made: list = []
    try:
        for c in copies:
            c.animation_data_clear()
        _setup(scene, copies, size, made)
        out = []
        with tempfile.TemporaryDirectory(prefix="vggt-mask-") as folder:
            for n in frames:
                for mask, c in zip(masks, copies):
                    _pose(mask, c, float(n))
                scene.frame_set(int(n))
                bpy.context.view_layer.update()  # else the Mask node renders the copies as they were before
                scene.render.filepath = os.path.join(folder, f"mask_{len(out)}.png")
                bpy.ops.render.render(scene=scene.name, write_still=True)
                out.append(read_matte(scene.render.filepath))
        return out
    finally:
        bpy.data.scenes.remove(scene)
        for c in copies:
            bpy.data.masks.remove(c)
        for block in made:
            collection = bpy.data.node_groups if isinstance(block, bpy.types.NodeTree) else (
                bpy.data.objects if isinstance(block, bpy.types.Object) else bpy.data.cameras)
            collection.remove(block)


def _fcurves(block: bpy.types.ID) -> list:
    """The F-curves animating ``block``: its action's (Blender < 4.4) or its slot's channel bag (layered
    actions, 4.4 on; ``Action.fcurves`` is gone in 5.0)."""
    anim = block.animation_data
    if anim is None or anim.action is None:
        return []
    action = anim.action
    if getattr(action, "layers", None):
        slot = anim.action_slot
        strips = action.layers[0].strips
        bag = strips[0].channelbag(slot) if slot is not None and len(strips) else None
        return list(bag.fcurves) if bag is not None else []
    return list(getattr(action, "fcurves", []))


def _pose(mask: bpy.types.Mask, copy: bpy.types.Mask, frame: float) -> None:
    """Set ``copy``'s animated values to ``mask``'s F-curves at ``frame``."""
    for fc in _fcurves(mask):
        try:
            target = copy.path_resolve(fc.data_path)
        except ValueError:  # a curve whose path no longer exists animates nothing
            continue
        if hasattr(target, "__setitem__"):
            target[fc.array_index] = fc.evaluate(frame)
        else:
            owner, _, prop = fc.data_path.rpartition(".")
            setattr(copy.path_resolve(owner) if owner else copy, prop, fc.evaluate(frame))
    for layer in copy.layers:  # automatic and vector handles follow their moved points (setting the type
        for spline in layer.splines:  # recomputes them, as the Mask editor does after a move)
            for point in spline.points:
                point.handle_type = point.handle_type


def _setup(scene: bpy.types.Scene, masks: list, size: tuple[int, int], made: list) -> None:
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = int(size[0]), int(size[1]), 100
    r.use_compositing = True
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "BW"
    scene.view_settings.view_transform = "Standard"  # the mask's 0/1 unchanged by a display transform
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
