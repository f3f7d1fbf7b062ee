"""Camera objects: one static camera per reconstructed frame and one animated (matchmove) camera."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

import bpy
import numpy as np

from ..convert import (BlenderCamera, PlateSettings, UndistortedPlate, frame_labels, movie_plate_start,
                       sequence_plate_anchor)
from .datablocks import Ledger, fcurve_ensure, load_clip, load_image, new_object, set_keys

if TYPE_CHECKING:
    from vggt_core import ShotLens


def apply_camera_data(cam: bpy.types.Camera, bc: BlenderCamera, scale: float = 1.0) -> None:
    """Write lens, sensor, shifts and clipping (scaled like the root) into camera data."""
    cam.type = "PERSP"
    cam.sensor_fit = "HORIZONTAL"  # AUTO would switch to a vertical fit for portrait plates
    cam.sensor_width = bc.sensor_width
    cam.lens = bc.lens_mm
    cam.shift_x = bc.shift_x
    cam.shift_y = bc.shift_y
    cam.clip_start = bc.clip_start * scale
    cam.clip_end = bc.clip_end * scale


def _tag_camera(obj: bpy.types.Object, bc: BlenderCamera) -> None:
    # Resolution and pixel aspect are scene settings in Blender, so each camera carries its own for
    # tools (and users) that make it the active camera.
    obj["vggt_resolution"] = list(bc.resolution)
    obj["vggt_pixel_aspect"] = [bc.pixel_aspect_x, bc.pixel_aspect_y]


def make_active_camera(scene: bpy.types.Scene, obj: bpy.types.Object) -> None:
    """Make ``obj`` the scene camera with the plate resolution and pixel aspect it was imported with
    (Blender keeps both per scene, so they must follow the camera for the framing to be exact)."""
    r = scene.render
    if "vggt_resolution" in obj:
        r.resolution_x, r.resolution_y = (int(v) for v in obj["vggt_resolution"])
        r.resolution_percentage = 100
    if "vggt_pixel_aspect" in obj:
        r.pixel_aspect_x, r.pixel_aspect_y = (float(v) for v in obj["vggt_pixel_aspect"])
    scene.camera = obj


def _add_background(cam: bpy.types.Camera) -> bpy.types.CameraBackgroundImage:
    bg = cam.background_images.new()
    bg.frame_method = "STRETCH"  # the plate fills the camera frame exactly, whatever the pixel aspect
    bg.alpha = 1.0
    cam.show_background_images = True
    return bg


def build_frame_cameras(
    ledger: Ledger,
    cams: Sequence[BlenderCamera],
    frames: Sequence,
    collection: bpy.types.Collection,
    root: bpy.types.Object,
    name: str,
    scale: float = 1.0,
) -> list[bpy.types.Object]:
    """One static camera object per frame, parented to ``root``, named after its source frame
    (``convert.frame_labels``); stills get their photo as background."""
    objs = []
    for i, (bc, fr, label) in enumerate(zip(cams, frames, frame_labels(frames))):
        data = ledger.add(bpy.data.cameras.new(f"{name} cam {label}"))
        apply_camera_data(data, bc, scale)
        obj = new_object(ledger, data.name, data, collection, parent=root, matrix=bc.matrix_world)
        _tag_camera(obj, bc)
        obj["vggt_frame"] = i
        obj["vggt_source"] = fr.source
        obj["vggt_source_index"] = fr.index
        if fr.timestamp is None:  # a still: show it; video frames would need the clip at this frame only
            img = load_image(ledger, fr.source)
            if img is not None:
                bg = _add_background(data)
                bg.source = "IMAGE"
                bg.image = img
        objs.append(obj)
    return objs


def _varies(values: np.ndarray) -> bool:
    return bool(np.ptp(values) > 1e-7 * max(1.0, float(np.abs(values).max())))


def build_animated_camera(
    ledger: Ledger,
    cams: Sequence[BlenderCamera],
    timeline: np.ndarray,
    collection: bpy.types.Collection,
    root: bpy.types.Object,
    name: str,
    frames: Sequence,
    plate: PlateSettings | None = None,
    interpolation: str = "LINEAR",
    scale: float = 1.0,
    undistorted: UndistortedPlate | None = None,
    zoom: "ShotLens | None" = None,
) -> bpy.types.Object:
    """A camera keyed at ``timeline[i]`` with frame i's pose (location + XYZ Euler, flip-free) and,
    when they vary, lens and shifts; custom properties ``vggt_reconstructed_frames`` (the keyed timeline
    frames) and ``vggt_interpolated_frames`` (how many frames between the first and last key have none).
    The plate (movie clip or image sequence) is its background, placed
    so frame i's footage shows at ``timeline[i]``.

    With ``undistorted`` (its files written) ``cams`` are the overscan cameras (``convert.overscan_camera``):
    the undistorted plate is the background shown, the plate a second one, hidden (to compare), and the
    camera says so in ``vggt_overscan`` = [Wo, Ho, W, H] (canvas and plate pixels).

    With ``zoom`` (a distorted zoom's lens, on the same timeline frames) the lens is keyed, linearly, on every
    frame from the first key to the last at ``zoom.at(frame)``'s focal: each frame's ST-maps and undistorted
    plate file are made with that focal, so the camera must have it whatever ``interpolation`` does between
    the pose keys."""
    from mathutils import Matrix

    data = ledger.add(bpy.data.cameras.new(f"{name} camera"))
    apply_camera_data(data, cams[0], scale)
    data.clip_start = min(c.clip_start for c in cams) * scale
    data.clip_end = max(c.clip_end for c in cams) * scale
    obj = new_object(ledger, data.name, data, collection, parent=root, matrix=cams[0].matrix_world)
    obj.rotation_mode = "XYZ"
    _tag_camera(obj, cams[0])

    order = np.argsort(timeline, kind="stable")
    tl = np.asarray(timeline, dtype=np.float64)[order]
    locs, eulers, prev = [], [], None
    for i in order:
        m = Matrix(np.asarray(cams[i].matrix_world).tolist())
        e = m.to_3x3().to_euler("XYZ") if prev is None else m.to_3x3().to_euler("XYZ", prev)
        prev = e
        locs.append(m.translation[:])
        eulers.append(e[:])
    locs, eulers = np.asarray(locs), np.asarray(eulers)
    for path, vals in (("location", locs), ("rotation_euler", eulers)):
        for k in range(3):
            set_keys(fcurve_ensure(obj, path, k, ledger), tl, vals[:, k], interpolation)
    # Keys sit on reconstructed frames only; say so, and how many frames in between are interpolated.
    keyed = sorted({int(round(t)) for t in tl})
    obj["vggt_reconstructed_frames"] = keyed
    obj["vggt_interpolated_frames"] = keyed[-1] - keyed[0] + 1 - len(keyed)

    for attr in ("lens_mm", "shift_x", "shift_y"):
        vals = np.array([getattr(cams[i], attr) for i in order])
        if attr == "lens_mm" and zoom is not None:
            every = np.arange(keyed[0], keyed[-1] + 1)
            mm_per_px = cams[order[0]].lens_mm / zoom.at(int(round(tl[0]))).fx
            set_keys(fcurve_ensure(data, "lens", 0, ledger, share=obj), every,
                     [zoom.at(int(n)).fx * mm_per_px for n in every], "LINEAR")
        elif _varies(vals):
            path = "lens" if attr == "lens_mm" else attr
            set_keys(fcurve_ensure(data, path, 0, ledger, share=obj), tl, vals, interpolation)

    if undistorted is not None:
        _attach_undistorted(ledger, data, undistorted, name)
        obj[OVERSCAN_KEY] = [*undistorted.lens.overscan_size(), undistorted.lens.width, undistorted.lens.height]
    if plate is not None:
        _attach_plate(ledger, data, plate, frames, timeline, name)
        if undistorted is not None and len(data.background_images) > 1:
            data.background_images[-1].show_background_image = False
    return obj


OVERSCAN_KEY = "vggt_overscan"
UNDISTORTED_KEY = "vggt_undistorted"  # on the undistorted plate's Image: not the plate itself


def _attach_undistorted(ledger: Ledger, cam: bpy.types.Camera, und: UndistortedPlate, name: str) -> None:
    """The undistorted plate (files named by timeline frame) as ``cam``'s background, file n at frame n."""
    from vggt_core.deliver import undistorted_name

    first = os.path.join(und.folder, undistorted_name(und.frames[0], und.numbers[0]))
    img = load_image(ledger, first, reuse=False)
    if img is None:
        raise OSError(f"cannot load the undistorted plate {first}")
    img.name = f"{name} undistorted plate"
    img.source = "SEQUENCE"
    img[UNDISTORTED_KEY] = und.folder
    bg = _add_background(cam)
    bg.source = "IMAGE"
    bg.image = img
    iu = bg.image_user
    # Blender shows file number (f - frame_start + 1 + frame_offset) at timeline frame f: n at n.
    iu.frame_start, iu.frame_offset = und.numbers[0], und.numbers[0] - 1
    iu.frame_duration = und.numbers[-1] - und.numbers[0] + 1
    iu.use_auto_refresh = True


def undistorted_background(cam: bpy.types.Object) -> bpy.types.CameraBackgroundImage | None:
    """The animated camera's undistorted plate background (``build_animated_camera``), or None."""
    return next((bg for bg in cam.data.background_images
                 if bg.source == "IMAGE" and bg.image is not None and UNDISTORTED_KEY in bg.image), None)


def _attach_plate(ledger: Ledger, cam: bpy.types.Camera, plate: PlateSettings, frames: Sequence,
                  timeline: np.ndarray, name: str) -> None:
    """Movie -> MovieClip placed so frame i plays at ``timeline[i]``; numbered images -> a SEQUENCE
    image with the matching offset. Skipped (no background) when no consistent placement exists."""
    if plate.movie:
        start = movie_plate_start(frames, timeline)
        if start is None:
            return
        clip = load_clip(ledger, plate.movie)
        if clip is not None and clip.frame_start - clip.frame_offset != start and not ledger.owns(clip):
            clip = load_clip(ledger, plate.movie, reuse=False)  # never retime the user's own clip
        if clip is None:
            return
        if ledger.owns(clip):
            clip.frame_start, clip.frame_offset = start, 0
        bg = _add_background(cam)
        bg.source = "MOVIE_CLIP"
        bg.clip = clip
    elif plate.images:
        paths = plate.images if len(plate.images) == len(frames) else [f.source for f in frames]
        anchor = sequence_plate_anchor(paths, timeline)
        if anchor is None:
            return
        # A separate datablock: the stills' own images (camera backgrounds, proxy textures) must
        # stay single images.
        img = load_image(ledger, paths[0], reuse=False)
        if img is None:
            return
        img.name = f"{name} plate"
        img.source = "SEQUENCE"
        bg = _add_background(cam)
        bg.source = "IMAGE"
        bg.image = img
        iu = bg.image_user
        # Blender shows file number (f - frame_start + 1 + frame_offset) at timeline frame f.
        iu.frame_start, iu.frame_offset = anchor[0], anchor[1] - 1
        iu.frame_duration = int(max(timeline)) - anchor[0] + 1
        iu.use_auto_refresh = True

