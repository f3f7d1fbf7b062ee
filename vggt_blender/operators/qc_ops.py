"""QC render: a playblast of the solve over the plate, for a supervisor to approve by eye.

``render_qc`` renders the animated camera's frames with Blender's Workbench (flat colours) to an H.264
mp4 through Blender's FFmpeg output: the plate (undistorted when the import's lens has distortion, so the
pinhole camera's projections land on it; else the camera's own background plate), the solved points'
reprojections (marker octahedra at the locators, else at a sample of the point cloud) and a grid on the
ground plane Z = 0, with the frame number burnt in (Blender's Metadata stamp); the scene's sequencer and
compositor are off meanwhile. Everything it adds is removed afterwards and every render/scene setting it
changes is put back, also when it fails.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import bpy
import numpy as np
from bpy.props import StringProperty

from ..builders import qc_overlay
from ..builders.cameras import undistorted_background
from ..builders.datablocks import Ledger
from ..builders.locators import LOCATOR_KEY
from ..builders.points import point_cloud_of, world_vertices
from ..convert import qc
from ..deliver.imported import animated_camera, camera_frames, lens_of, sample_camera
from ..deliver.lens import export_lens
from . import setup_ops

if TYPE_CHECKING:
    from vggt_core import Reconstruction

MARKER_PX = 2.5  # marker radius in plate pixels, at the points' median depth over the shot
MAX_CLOUD_MARKERS = 300


def _set(ledger: Ledger, owner: Any, attr: str, value: Any) -> None:
    """``owner.attr = value``, put back by ``ledger.rollback()``."""
    old = getattr(owner, attr)
    ledger.on_rollback(lambda: setattr(owner, attr, old))
    setattr(owner, attr, value)


def _render_settings(ledger: Ledger, scene: bpy.types.Scene, cam: bpy.types.Object, path: str,
                     frames: range) -> None:
    """Workbench, flat colours, 100 %, H.264 mp4 at ``path``, only the frame number stamped; the sequencer and
    the compositor off, since either replaces the overlay in the output (a plate strip in the same scene is a
    supported source)."""
    r = scene.render
    for attr, value in (("camera", cam), ("frame_start", frames.start), ("frame_end", frames.stop - 1),
                        ("frame_step", 1)):
        _set(ledger, scene, attr, value)
    for attr, value in (("engine", "BLENDER_WORKBENCH"), ("resolution_percentage", 100), ("filepath", path),
                        ("use_file_extension", False), ("film_transparent", False), ("use_stamp", True),
                        ("stamp_font_size", max(12, r.resolution_y // 40)),  # readable on a 4K plate too
                        ("use_sequencer", False), ("use_compositing", False)):
        _set(ledger, r, attr, value)
    for attr in (a for a in dir(r) if a.startswith("use_stamp_")):
        _set(ledger, r, attr, attr in ("use_stamp_frame", "use_stamp_labels"))
    _set_video_format(ledger, r.image_settings)
    for attr, value in (("format", "MPEG4"), ("codec", "H264"), ("constant_rate_factor", "HIGH")):
        _set(ledger, r.ffmpeg, attr, value)
    sh = scene.display.shading
    for attr, value in (("light", "FLAT"), ("color_type", "TEXTURE"), ("show_shadows", False),
                        ("show_cavity", False), ("show_object_outline", False)):
        _set(ledger, sh, attr, value)
    vs = scene.view_settings  # the plate's pixels as they are
    for attr, value in (("view_transform", "Standard"), ("look", "None"), ("exposure", 0.0), ("gamma", 1.0)):
        _set(ledger, vs, attr, value)


def _set_video_format(ledger: Ledger, im: bpy.types.ImageFormatSettings) -> None:
    """FFMPEG output, put back in order: Blender 5.0+ only offers a format of the current ``media_type``."""
    kind = "media_type" if hasattr(im, "media_type") else None
    old = (getattr(im, kind) if kind else None, im.file_format)

    def undo() -> None:
        if kind:
            setattr(im, kind, old[0])
        im.file_format = old[1]

    ledger.on_rollback(undo)
    if kind:
        setattr(im, kind, "VIDEO")
    im.file_format = "FFMPEG"


def _marker_points(root: bpy.types.Object) -> np.ndarray:
    """[N, 3] world positions: the locators (the solved points), else a sample of the point cloud."""
    locs = [np.array(o.matrix_world.translation) for o in root.children_recursive if LOCATOR_KEY in o]
    if locs:
        return np.array(locs)
    cloud = point_cloud_of(root)
    if cloud is None or not len(cloud.data.vertices):
        raise ValueError("the import has no solved points or point cloud to draw: re-import it with points on")
    xyz = world_vertices(cloud)
    step = max(1, len(xyz) // MAX_CLOUD_MARKERS)
    return xyz[::step][:MAX_CLOUD_MARKERS]


def _plate_image(ledger: Ledger, root: bpy.types.Object, cam: bpy.types.Object, recon: "Reconstruction | None",
                 folder: str) -> tuple[bpy.types.Image, dict, tuple[float, float, float, float]]:
    """(image, image-user settings, UV crop) of the plate to render over: the overscan camera's undistorted
    background; else the undistorted plate (written to ``folder``, cropped to the plate's part of the canvas)
    when the lens has distortion; else the camera's background plate."""
    bg = undistorted_background(cam)
    if bg is not None:  # the overscan camera over the import's own undistorted plate: the whole canvas
        iu = bg.image_user
        return bg.image, {"frame_start": iu.frame_start, "frame_offset": iu.frame_offset,
                          "frame_duration": iu.frame_duration}, (0.0, 0.0, 1.0, 1.0)
    try:
        lens = lens_of(root, recon)
    except ValueError:  # no stored lens and no cache: the plate as it is
        lens = None
    if lens is not None and lens.model != "PINHOLE":
        written = export_lens(root, folder, recon, plate=True)
        files = sorted(Path(p) for p in written if Path(p).name.startswith("undistorted."))
        numbers = [int(f.name.split(".")[1]) for f in files]
        _hold_missing(files, numbers)
        img = ledger.add(bpy.data.images.load(str(files[0]), check_existing=False))
        img.source = "SEQUENCE"  # file number f shows at timeline frame f (the import's frame numbers)
        return img, {"frame_start": 1, "frame_offset": 0, "frame_duration": max(numbers)}, \
            qc.plate_uv_crop((lens.width, lens.height), lens.overscan_size())
    for bg in cam.data.background_images:
        if bg.source == "IMAGE" and bg.image is not None:
            iu = bg.image_user
            return bg.image, {"frame_start": iu.frame_start, "frame_offset": iu.frame_offset,
                              "frame_duration": iu.frame_duration}, (0.0, 0.0, 1.0, 1.0)
        if bg.source == "MOVIE_CLIP" and bg.clip is not None:
            img = ledger.add(bpy.data.images.load(bpy.path.abspath(bg.clip.filepath), check_existing=False))
            # the clip shows movie frame k (from 0) at frame_start + k - frame_offset; an image user shows
            # frame n (from 1) at frame_start + n - 1 - frame_offset
            return img, {"frame_start": bg.clip.frame_start, "frame_offset": bg.clip.frame_offset,
                         "frame_duration": bg.clip.frame_duration}, (0.0, 0.0, 1.0, 1.0)
    raise ValueError("the animated camera has no plate to render over: re-import with the plate as background")


def _hold_missing(files: list[Path], numbers: list[int]) -> None:
    """Fill the undistorted sequence's gaps (interpolated frames: no plate was reconstructed there) with
    copies of the previous reconstructed frame, so the sequence plays without missing files (copies, not
    links: Windows needs privileges for those)."""
    have = dict(zip(numbers, files))
    order = sorted(have)
    for n in range(order[0], order[-1] + 1):
        if n not in have:
            prev = have[n - 1]
            have[n] = prev.with_name(prev.name.replace(f".{n - 1:04d}.", f".{n:04d}."))
            shutil.copyfile(prev, have[n])


def render_qc(context: bpy.types.Context, root: bpy.types.Object, path: str,
              recon: "Reconstruction | None" = None) -> str:
    """Render the QC playblast of ``root``'s import to ``path`` (.mp4, H.264) over the animated camera's
    keyed frames at the scene's render resolution; ``recon`` (for the undistorted plate) defaults to the
    import's cache. Returns the absolute path. ValueError (one line) when the import has no animated
    camera, plate or points; the scene is left as it was in every case."""
    path = os.path.abspath(bpy.path.abspath(path))
    if not path.lower().endswith(".mp4"):
        raise ValueError(f"the QC render is an .mp4 file, got {path}")
    r = context.scene.render
    if (r.resolution_x % 2) or (r.resolution_y % 2):
        raise ValueError(f"H.264 needs an even render size, the scene's is {r.resolution_x}x{r.resolution_y}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vggt_qc_") as tmp, _rolled_back() as ledger:
        _render(context, ledger, root, path, recon, tmp)
    return path


@contextlib.contextmanager
def _rolled_back() -> Iterator[Ledger]:
    ledger = Ledger()
    try:
        yield ledger
    finally:
        ledger.rollback()


def _render(context: bpy.types.Context, ledger: Ledger, root: bpy.types.Object, path: str,
            recon: "Reconstruction | None", tmp: str) -> None:
    scene = context.scene
    context.view_layer.update()  # world matrices of a fresh import or a just-moved root
    cam = animated_camera(root)
    frames = camera_frames(cam, scene)
    points = _marker_points(root)
    image, image_user, crop = _plate_image(ledger, root, cam, recon, tmp)
    current = scene.frame_current  # frame_set below moves it; put back (and re-evaluated) after
    ledger.on_rollback(lambda: scene.frame_set(current))
    mats, lens_mm = sample_camera(scene, cam, frames)
    centres = mats[:, :3, 3]
    # the points' depths (along the view, world units) over all frames size the markers
    rot = mats[:, :3, :3] / np.linalg.norm(mats[:, :3, :3], axis=1, keepdims=True)
    depth = -np.einsum("fk,fpk->fp", rot[:, :, 2], points[None] - centres[:, None])
    ahead = depth[depth > 0]
    median = float(np.median(ahead)) if len(ahead) else float(np.linalg.norm(points - centres[0], axis=1).mean())
    fx_px = lens_mm[0] / cam.data.sensor_width * scene.render.resolution_x
    reach = float(np.max(np.linalg.norm(points[None] - centres[:, None], axis=2)))
    col = ledger.add(bpy.data.collections.new("VGGT QC"))
    scene.collection.children.link(col)
    qc_overlay.build_markers(ledger, col, points, MARKER_PX * median / fx_px)
    half = 1.5 * float(np.max(np.abs(points[:, :2] - centres[:, :2].mean(0))))
    qc_overlay.build_grid(ledger, col, centres[:, :2].mean(0), max(half, 1e-3))
    # the plate card behind everything drawn, inside the clipping range (camera-local units: the camera may be scaled)
    card_world = 2.0 * max(reach, 2 * half)
    scale = float(np.linalg.norm(mats[0][:3, 0]))
    _set(ledger, cam.data, "clip_end", max(cam.data.clip_end, 2.0 * card_world))
    qc_overlay.build_plate_card(ledger, col, scene, cam, image, image_user, crop, frames, card_world / scale)
    # only the overlay renders: the import's cloud and proxies (and the artist's objects) are hidden meanwhile
    for obj in scene.objects:
        if col not in obj.users_collection and obj.type != "CAMERA" and not obj.hide_render:
            _set(ledger, obj, "hide_render", True)
    _render_settings(ledger, scene, cam, path, frames)
    bpy.ops.render.render(animation=True)
    if not os.path.isfile(path):
        raise ValueError(f"Blender wrote no QC render at {path}: check the render log")


class VGGT_OT_render_qc(setup_ops.RootPoll, bpy.types.Operator):
    """Render a QC playblast (H.264 .mp4) of the solve: the plate (undistorted when distortion was solved), the
    solved points' reprojections and a ground grid through the animated camera, frame numbers burnt in"""

    bl_idname = "vggt.render_qc"
    bl_label = "Render QC"
    bl_options = {"REGISTER"}
    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})
    filter_glob: StringProperty(default="*.mp4", options={"HIDDEN"})

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.filepath = self.filepath or "qc.mp4"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            path = render_qc(context, setup_ops.find_root(context), self.filepath)
        except (ValueError, OSError, RuntimeError) as err:
            self.report({"ERROR"}, str(err).strip().splitlines()[-1])
            return {"CANCELLED"}
        self.report({"INFO"}, f"VGGT: wrote {path}")
        return {"FINISHED"}


classes = (VGGT_OT_render_qc,)
