"""The animated camera out of Blender: Alembic, USD and FBX through Blender's own exporters, a Nuke ``.chan`` and
a Nuke QC script ``.nk``, with the lens package beside it and the locators, in the scene's world (after any Set
Floor / Origin / Scale) and on the import's plate frame numbers. Every export leaves the scene as it was: the
selection, the frame range and the current frame are restored and a temporary baked camera is removed."""
from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Iterator, Sequence

import bpy
import numpy as np
from mathutils import Matrix

from ..builders.cameras import OVERSCAN_KEY, UNDISTORTED_KEY
from ..builders.locators import LOCATOR_KEY
from ..convert import chan
from .imported import animated_camera, camera_frames, lens_or_none, sample_camera
from .lens import lens_package_dir, stmap_pattern

if TYPE_CHECKING:
    from vggt_core import ShotLens

CAMERA_FORMATS = {".abc": "Alembic", ".usd": "USD", ".usda": "USD", ".usdc": "USD", ".fbx": "FBX", ".chan": "Nuke chan",
                  ".nk": "Nuke QC script"}


def _unscaled(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    out[:3, :3] /= np.linalg.norm(m[:3, :3], axis=0)
    return out


@contextlib.contextmanager
def _export_state(context: bpy.types.Context, objs: Sequence[bpy.types.Object], frames: range) -> Iterator[None]:
    """Select only ``objs`` and set the scene's frame range to ``frames``; restore both afterwards."""
    scene, layer = context.scene, context.view_layer
    selected = [o for o in layer.objects if o.select_get()]
    active = layer.objects.active
    old_range = scene.frame_start, scene.frame_end
    try:
        for o in selected:
            o.select_set(False)
        for o in objs:
            o.select_set(True)
        layer.objects.active = objs[0]
        scene.frame_start, scene.frame_end = frames.start, frames.stop - 1
        yield
    finally:
        scene.frame_start, scene.frame_end = old_range
        for o in layer.objects:
            o.select_set(o in selected)
        layer.objects.active = active


@contextlib.contextmanager
def _baked_camera(scene: bpy.types.Scene, cam: bpy.types.Object, frames: range) -> Iterator[bpy.types.Object]:
    """A temporary unparented copy of ``cam`` keyed at every frame with its world transform (scale
    removed) and focal length; removed afterwards."""
    mats, lens = sample_camera(scene, cam, frames)
    data = cam.data.copy()
    data.animation_data_clear()
    obj = bpy.data.objects.new(f"{cam.name} world", data)
    scene.collection.objects.link(obj)
    _frame_metadata(obj, cam)
    try:
        obj.rotation_mode = "XYZ"
        prev = None
        for f, m, lens_mm in zip(frames, mats, lens):
            mw = Matrix(_unscaled(m).tolist())
            obj.location = mw.translation
            obj.rotation_euler = mw.to_euler("XYZ") if prev is None else mw.to_euler("XYZ", prev)
            prev = obj.rotation_euler.copy()
            obj.keyframe_insert("location", frame=f)
            obj.keyframe_insert("rotation_euler", frame=f)
            data.lens = float(lens_mm)
            data.keyframe_insert("lens", frame=f)
        yield obj
    finally:
        # One action or two (5.0+ may share one between object and data through slots): by name, once.
        actions = {ad.action.name for ad in (obj.animation_data, data.animation_data) if ad and ad.action}
        bpy.data.objects.remove(obj)
        bpy.data.cameras.remove(data)
        for name in actions:
            a = bpy.data.actions.get(name)
            if a is not None and a.users == 0:
                bpy.data.actions.remove(a)


def _frame_metadata(obj: bpy.types.Object, cam: bpy.types.Object) -> None:
    """Say on ``obj`` which frames ``cam`` reconstructed and which it interpolates, and the image it is the camera
    of, as text custom properties (Alembic and USD write them as user properties, FBX with ``use_custom_props``):
    ``vggt_reconstructed_frames`` and ``vggt_interpolated_frames`` as space-separated frame numbers,
    ``vggt_canvas`` "overscan WoxHo of plate WxH" (the undistorted overscan camera) or "plate WxH"."""
    from vggt_core.plate import interpolated_frames

    obj["vggt_canvas"] = canvas_of(cam)
    keyed = [int(f) for f in cam.get("vggt_reconstructed_frames", ())]
    obj["vggt_reconstructed_frames"] = " ".join(map(str, keyed))
    obj["vggt_interpolated_frames"] = " ".join(map(str, interpolated_frames(keyed)))


def canvas_of(cam: bpy.types.Object) -> str:
    """What image ``cam`` frames: "overscan WoxHo of plate WxH" (``builders.cameras.OVERSCAN_KEY``) or "plate WxH"."""
    if OVERSCAN_KEY in cam:
        wo, ho, w, h = (int(v) for v in cam[OVERSCAN_KEY])
        return f"overscan {wo}x{ho} of plate {w}x{h}"
    w, h = (int(v) for v in cam.get("vggt_resolution", (0, 0)))
    return f"plate {w}x{h}"


def _write_with_blender(path: str, ext: str, frames: range) -> None:
    """Export the selected objects over ``frames`` with Blender's exporter for ``ext``."""
    if ext == ".abc":
        bpy.ops.wm.alembic_export(filepath=path, selected=True, start=frames.start, end=frames.stop - 1)
    elif ext == ".fbx":
        # No curve simplification: every solved key is written as solved. Custom properties carry the
        # frame metadata (``_frame_metadata``).
        bpy.ops.export_scene.fbx(filepath=path, use_selection=True, bake_anim=True, add_leaf_bones=False,
                                 bake_anim_use_nla_strips=False, bake_anim_use_all_actions=False,
                                 bake_anim_simplify_factor=0.0, use_custom_props=True)
    else:
        bpy.ops.wm.usd_export(filepath=path, selected_objects_only=True, export_animation=True)


def write_chan(path: str, scene: bpy.types.Scene, cam: bpy.types.Object, frames: range) -> None:
    """The camera's world motion as a Nuke ``.chan`` file (``convert.chan``)."""
    mats, lens = sample_camera(scene, cam, frames)
    r = scene.render
    res = cam.get("vggt_resolution", (r.resolution_x, r.resolution_y))
    asp = cam.get("vggt_pixel_aspect", (r.pixel_aspect_x, r.pixel_aspect_y))
    aspect = float(res[1]) * float(asp[1]) / (float(res[0]) * float(asp[0]))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(chan.chan_text(np.array(list(frames)), mats, lens, cam.data.sensor_width, aspect))


def plate_of(cam: bpy.types.Object) -> tuple[str, int]:
    """(path as Nuke reads it, file number shown at timeline frame 0) of the animated camera's plate: a
    numbered image sequence (``shot.####.png``) or a movie (frames from 1). ValueError without a plate."""
    from vggt_core.plate import number_parts

    bgs = [b for b in cam.data.background_images if (b.source == "IMAGE" and b.image and UNDISTORTED_KEY not in b.image)
           or (b.source == "MOVIE_CLIP" and b.clip)]
    if not bgs:
        raise ValueError("the animated camera has no plate (a movie or numbered images) for the Nuke script")
    bg = bgs[0]
    if bg.source == "MOVIE_CLIP":  # Blender shows movie frame k (from 0) at frame_start + k - frame_offset
        return os.path.abspath(bpy.path.abspath(bg.clip.filepath)), 1 - (bg.clip.frame_start - bg.clip.frame_offset)
    path = os.path.abspath(bpy.path.abspath(bg.image.filepath))
    head, digits, tail = number_parts(path)
    iu = bg.image_user  # file number (f - frame_start + 1 + frame_offset) at timeline frame f
    return head + "#" * len(digits) + tail, 1 + iu.frame_offset - iu.frame_start


def write_nk(path: str, scene: bpy.types.Scene, cam: bpy.types.Object, frames: range, lens: "ShotLens",
             stmap: str, locators: Sequence[bpy.types.Object] = ()) -> None:
    """The Nuke QC script (``convert.nuke_script``) for ``cam`` over its plate, undistorted with ``stmap`` (a
    zoom's: the ``####`` sequence on the plate frame numbers), with an Axis per object of ``locators`` (at its
    world position)."""
    from ..convert import nuke_script

    mats, lens_mm = sample_camera(scene, cam, frames)
    plate, file_at_zero = plate_of(cam)
    sensor = cam.data.sensor_width  # the script's camera is given for the plate and renders on the overscan canvas
    if OVERSCAN_KEY in cam:
        wo, _, w, _ = (int(v) for v in cam[OVERSCAN_KEY])
        sensor *= w / wo
    text = nuke_script.nk_text(list(frames), mats, lens_mm, sensor, plate, file_at_zero + frames.start,
                               (lens.width, lens.height), stmap, lens.overscan_size(),
                               [(o.name, np.array(o.matrix_world.translation)) for o in locators])
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def export_camera(context: bpy.types.Context, root: bpy.types.Object, path: str, bake_world: bool = True,
                  with_points: bool = False, with_proxies: bool = False, with_locators: bool = True) -> str:
    """Write the import's animated camera to ``path`` (.abc, .usd/.usda/.usdc, .fbx, .chan or .nk; chosen by
    the extension). ``bake_world``: a camera with no parent, keyed at every frame with its world
    transform; otherwise the root Empty and its camera keep their hierarchy. ``with_points`` /
    ``with_proxies`` add the point cloud / depth proxies, ``with_locators`` the locator empties (Alembic/USD/FBX
    transforms, in world space when baked). Returns the absolute path.

    The camera is the undistorted (pinhole) one, on the import's frame numbers; the lens package
    (``lens.json`` + ST-maps) goes beside it (``lens_package_dir``), its lens.json path in the camera's
    ``vggt_lens_package`` custom property (an Alembic/USD user property, an FBX custom property)."""
    path = os.path.abspath(bpy.path.abspath(path))
    ext = os.path.splitext(path)[1].lower()
    if ext not in CAMERA_FORMATS:
        raise ValueError(f"unknown camera format '{ext}': use one of {', '.join(sorted(CAMERA_FORMATS))}")
    scene = context.scene
    cam = animated_camera(root)
    frames = camera_frames(cam, scene)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lens = lens_or_none(root)
    lens_json = os.path.join(lens_package_dir(path), "lens.json") if lens is not None else ""
    if ext == ".chan":
        write_chan(path, scene, cam, frames)
    elif ext == ".nk":
        if lens is None:
            raise ValueError("the import has no stored lens and its cache is gone: run VGGT again to write a .nk")
        locators = [o for o in root.children_recursive if with_locators and LOCATOR_KEY in o]
        write_nk(path, scene, cam, frames, lens, os.path.join(lens_package_dir(path), stmap_pattern(lens)), locators)
    else:
        extra = [o for o in root.children_recursive if o.type == "MESH" and (
            (with_points and "VGGT Points" in o.modifiers) or (with_proxies and "VGGT Points" not in o.modifiers))]
        extra += [o for o in root.children_recursive if with_locators and LOCATOR_KEY in o]
        if bake_world:
            with _baked_camera(scene, cam, frames) as baked, _export_state(context, [baked, *extra], frames):
                baked["vggt_lens_package"] = lens_json
                _write_with_blender(path, ext, frames)
        else:
            with _export_state(context, [cam, root, *extra], frames), _lens_property(cam, lens_json):
                _write_with_blender(path, ext, frames)
    if lens is not None:
        from vggt_core import write_lens_package

        write_lens_package(lens_package_dir(path), lens, frames)
    return path


@contextlib.contextmanager
def _lens_property(cam: bpy.types.Object, lens_json: str) -> Iterator[None]:
    """``cam["vggt_lens_package"] = lens_json`` while exporting (Alembic/USD/FBX write it), removed afterwards."""
    cam["vggt_lens_package"] = lens_json
    try:
        yield
    finally:
        del cam["vggt_lens_package"]
