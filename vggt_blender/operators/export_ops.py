"""Exports from Blender: the animated camera (Alembic, USD, FBX through Blender's own exporters, a Nuke
``.chan`` and a Nuke QC script ``.nk``) with its lens package beside it and the locators, the lens package
alone, the coloured points as GLB, and a COLMAP dataset, all in the scene's world (after any Set Floor /
Origin / Scale) and on the import's plate frame numbers.

Every export leaves the scene as it was: the selection, the frame range and the current frame are
restored and a temporary baked camera is removed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import bpy
import numpy as np
from bpy.props import BoolProperty, StringProperty
from mathutils import Matrix

from ..builders.cameras import OVERSCAN_KEY, UNDISTORTED_KEY
from ..builders.locators import LOCATOR_KEY
from ..convert import ImportSettings, chan
from ..convert import setup as su
from . import setup_ops

if TYPE_CHECKING:
    from vggt_core import PointSet
    from vggt_core import ShotLens
    from vggt_core import Reconstruction

CAMERA_FORMATS = {".abc": "Alembic", ".usd": "USD", ".usda": "USD", ".usdc": "USD", ".fbx": "FBX", ".chan": "Nuke chan",
                  ".nk": "Nuke QC script"}


def animated_camera(root: bpy.types.Object) -> bpy.types.Object:
    """The animated (matchmove) camera under ``root``; ValueError when the import has none."""
    cam = next((o for o in root.children_recursive if o.type == "CAMERA" and "vggt_frame" not in o), None)
    if cam is None:
        raise ValueError("the import has no animated camera: re-import it with Animated Camera on")
    return cam


def camera_frames(cam: bpy.types.Object, scene: bpy.types.Scene) -> range:
    """The frames the camera is keyed over (its action's range), else the scene's frame range."""
    ad = cam.animation_data
    if ad is not None and ad.action is not None:
        lo, hi = ad.action.frame_range
        return range(int(round(lo)), int(round(hi)) + 1)
    return range(scene.frame_start, scene.frame_end + 1)


def sample_camera(scene: bpy.types.Scene, cam: bpy.types.Object,
                  frames: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """World matrices [F, 4, 4] and focal lengths [F] (mm) of ``cam`` at ``frames``; the current frame is restored."""
    current = scene.frame_current
    mats, lens = [], []
    try:
        for f in frames:
            scene.frame_set(f)
            mats.append(np.array(cam.matrix_world, dtype=np.float64))
            lens.append(cam.data.lens)
    finally:
        scene.frame_set(current)
    return np.array(mats), np.array(lens)


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
    lens = _lens_or_none(root)
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

        write_lens_package(lens_package_dir(path), lens, zoom_frames(lens, frames))
    return path


def stmap_pattern(lens: "ShotLens") -> str:
    """The undistort ST-map's name as Nuke reads it: ``stmap_undistort.exr``, a zoom's ``stmap_undistort.####.exr``."""
    from vggt_core.deliver import UNDISTORT_MAP, UNDISTORT_SEQUENCE

    return UNDISTORT_SEQUENCE.replace("%04d", "####") if lens.zoom else UNDISTORT_MAP


def zoom_frames(lens: "ShotLens", frames: "Sequence[int] | None" = None) -> "list[int] | None":
    """The plate frames a zoom's lens package has ST-maps for: ``frames`` (an export's), else every frame from
    its first key to its last; None for a fixed lens (one pair of maps)."""
    if not lens.zoom:
        return None
    return [int(n) for n in (frames if frames is not None else range(lens.numbers[0], lens.numbers[-1] + 1))]


def lens_package_dir(camera_path: str) -> str:
    """The lens package written beside a camera export: ``shot.abc`` -> ``shot_lens/``."""
    return os.path.splitext(camera_path)[0] + "_lens"


def _lens_or_none(root: bpy.types.Object) -> "ShotLens | None":
    """``lens_of(root)``, or None for an import from before lenses were stored whose cache is gone (its camera
    still exports, without a lens package)."""
    try:
        return lens_of(root)
    except ValueError:
        return None


@contextlib.contextmanager
def _lens_property(cam: bpy.types.Object, lens_json: str) -> Iterator[None]:
    """``cam["vggt_lens_package"] = lens_json`` while exporting (Alembic/USD/FBX write it), removed afterwards."""
    cam["vggt_lens_package"] = lens_json
    try:
        yield
    finally:
        del cam["vggt_lens_package"]


def export_points_glb(root: bpy.types.Object, path: str) -> str:
    """The import's point cloud (all imported points, world coordinates, linear colours) as GLB."""
    from vggt_core.deliver import Z_UP_TO_GLTF, write_points_glb

    cloud = setup_ops.point_cloud_of(root)
    if cloud is None or not len(cloud.data.vertices):
        raise ValueError("the import has no point cloud")
    from ..builders.points import COLOR_ATTR

    me = cloud.data
    xyz = setup_ops.world_vertices(cloud)
    rgba = np.empty(len(me.vertices) * 4, dtype=np.float32)
    me.color_attributes[COLOR_ATTR].data.foreach_get("color", rgba)
    path = os.path.abspath(bpy.path.abspath(path))
    write_points_glb(path, xyz @ Z_UP_TO_GLTF.T, rgba.reshape(-1, 4)[:, :3])
    return path


def export_colmap(root: bpy.types.Object, directory: str, recon: "Reconstruction | None" = None,
                  points: "PointSet | None" = None, progress: Callable[[float], None] | None = None) -> str:
    """A COLMAP dataset (``vggt_core.deliver.colmap``) in the scene's world: the root's transform (Z up,
    floor, origin, scale) is applied to the cameras and points. ``recon`` defaults to the import's
    cache, ``points`` to the points its import settings select. Returns the absolute folder."""
    from vggt_core import write_colmap_dataset
    from vggt_core import select_points

    col = next((c for c in root.users_collection if "vggt_settings" in c), None)
    if recon is None:
        recon = _cached_reconstruction(col)
    if points is None:
        st = ImportSettings.from_json(col["vggt_settings"]) if col is not None else ImportSettings()
        points = select_points(recon, source=st.point_source, conf_percentile=st.conf_percentile,
                               max_points=st.max_points)
    m = np.array(root.matrix_world, dtype=np.float64)
    points = dataclasses.replace(points, xyz=su.transform_points(m, points.xyz).astype(np.float32))
    moved = dataclasses.replace(recon, extrinsics=su.transform_extrinsics(recon.extrinsics, m).astype(np.float32))
    directory = os.path.abspath(bpy.path.abspath(directory))
    write_colmap_dataset(directory, moved, points, progress, frame_numbers_of(col, recon))
    return directory


def frame_numbers_of(col: bpy.types.Collection | None, recon: "Reconstruction") -> list[int]:
    """The plate frame numbers the import keyed each of ``recon``'s frames on (``vggt_frame_numbers``); the
    plate's own (``vggt_core.plate.frame_numbers``) for an import that has none or other frames."""
    from vggt_core.plate import plate_frame_numbers

    numbers = list(col["vggt_frame_numbers"]) if col is not None and "vggt_frame_numbers" in col else []
    return [int(n) for n in numbers] if len(numbers) == recon.num_frames else plate_frame_numbers(recon.frames).tolist()


def _collection_of(root: bpy.types.Object) -> bpy.types.Collection | None:
    return next((c for c in root.users_collection if "vggt_settings" in c), None)


def lens_of(root: bpy.types.Object, recon: "Reconstruction | None" = None) -> "ShotLens":
    """The ``ShotLens`` of ``recon`` when given (the reconstruction being imported), else the one stored on
    the import (``vggt_lens``), else its cache's; on the import's frame numbers."""
    import json

    from vggt_core import ShotLens, shot_lens

    col = _collection_of(root)
    if recon is None and col is not None and "vggt_lens" in col:
        return ShotLens.from_dict(json.loads(col["vggt_lens"]))
    recon = recon if recon is not None else _cached_reconstruction(col)
    return shot_lens(recon, frame_numbers_of(col, recon))


def export_lens(root: bpy.types.Object, directory: str, recon: "Reconstruction | None" = None,
                plate: bool = False, progress: Callable[[float], None] | None = None) -> list[str]:
    """The import's lens package (``vggt_core.deliver.lens_package``: lens.json, undistort/redistort ST-maps and with
    ``plate`` the undistorted plate on the import's frame numbers) in ``directory``. ``recon`` (for the plate's
    frames) defaults to the import's cache. Returns the absolute paths written."""
    from vggt_core import write_lens_package, write_undistorted_plate

    lens = lens_of(root, recon)
    directory = os.path.abspath(bpy.path.abspath(directory))
    files = write_lens_package(directory, lens, zoom_frames(lens))
    if plate:
        recon = recon if recon is not None else _cached_reconstruction(_collection_of(root))
        files += write_undistorted_plate(os.path.join(directory, "undistorted"), recon.frames, lens,
                                         frame_numbers_of(_collection_of(root), recon), progress)
    return [str(p) for p in files]


def redistort_scene(context: bpy.types.Context, root: bpy.types.Object, directory: str) -> bpy.types.Scene:
    """The import's lens package in ``directory`` (its ST-maps on the animated camera's frames) and a plate-sized
    compositing scene that renders this scene's view layer the artist renders (the window's, when it renders,
    else the first that does: ``builders.redistort.rendered_view_layer``) through them. ValueError (one line)
    when the scene does not render through the import's camera at its size, or renders no view layer."""
    from vggt_core import write_lens_package

    from ..builders.redistort import build_redistort_scene, rendered_view_layer

    scene = context.scene
    cam = animated_camera(root)
    if scene.camera != cam:
        raise ValueError(f"the scene renders through '{getattr(scene.camera, 'name', None)}': make the import's "
                         f"camera '{cam.name}' the scene's camera first")
    lens = lens_of(root)
    size = tuple(int(v) for v in cam[OVERSCAN_KEY][:2]) if OVERSCAN_KEY in cam else (lens.width, lens.height)
    if (scene.render.resolution_x, scene.render.resolution_y) != size:
        raise ValueError(f"the scene renders at {scene.render.resolution_x}x{scene.render.resolution_y}, the "
                         f"camera's canvas is {size[0]}x{size[1]}: set the resolution back (the percentage may differ)")
    layer = rendered_view_layer(scene, context.view_layer)
    frames = camera_frames(cam, scene)
    directory = os.path.abspath(bpy.path.abspath(directory))
    write_lens_package(directory, lens, zoom_frames(lens, frames))
    col = _collection_of(root)
    return build_redistort_scene(col, scene, lens, directory, frames, col.name, layer)


def _cached_reconstruction(col: bpy.types.Collection | None) -> "Reconstruction":
    from vggt_core.run import cache

    from .cache_ops import cache_file_of

    path = cache_file_of(col) if col is not None else ""
    if not path or not os.path.isfile(path):
        raise ValueError("the import's cache file is missing: run VGGT again with Cache Results on")
    return cache.load(path)


# ---- operators -----------------------------------------------------------------------------------
class _ExportOperator(setup_ops.RootPoll, bpy.types.Operator):
    bl_options = {"REGISTER"}
    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def write(self, context: bpy.types.Context, root: bpy.types.Object) -> str:
        raise NotImplementedError

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            path = self.write(context, setup_ops.find_root(context))
        except (ValueError, OSError, RuntimeError) as err:  # RuntimeError: a Blender exporter failed
            self.report({"ERROR"}, str(err).strip().splitlines()[-1])
            return {"CANCELLED"}
        self.report({"INFO"}, f"VGGT: wrote {path}")
        return {"FINISHED"}


class VGGT_OT_export_camera(_ExportOperator):
    """Export the animated camera: Alembic (.abc), USD (.usd/.usda/.usdc), FBX (.fbx), Nuke (.chan) or a Nuke QC
    script (.nk), by the file name's extension; its lens package goes beside it"""

    bl_idname = "vggt.export_camera"
    bl_label = "Export Camera"
    filter_glob: StringProperty(default="*.abc;*.usd;*.usda;*.usdc;*.fbx;*.chan;*.nk", options={"HIDDEN"})
    bake_world: BoolProperty(name="Bake to World", default=True,
                             description="One camera with no parent, keyed at every frame with its world transform")
    with_points: BoolProperty(name="Point Cloud", default=False)
    with_proxies: BoolProperty(name="Depth Proxies", default=False)
    with_locators: BoolProperty(name="Locators", default=True, description="The solved points' locator empties")

    def write(self, context, root):
        return export_camera(context, root, self.filepath, self.bake_world, self.with_points, self.with_proxies,
                             self.with_locators)


class VGGT_OT_export_points(_ExportOperator):
    """Export the coloured point cloud as a GLB file (glTF points, Y up)"""

    bl_idname = "vggt.export_points"
    bl_label = "Export Points (GLB)"
    filter_glob: StringProperty(default="*.glb", options={"HIDDEN"})

    def write(self, context, root):
        return export_points_glb(root, self.filepath)


class VGGT_OT_export_lens(_ExportOperator):
    """Write the lens package: lens.json (model, values, overscan) and Nuke STMap EXRs to undistort the plate and
    redistort CG, from the import's cache (identity without solved distortion)"""

    bl_idname = "vggt.export_lens"
    bl_label = "Export Lens"
    directory: StringProperty(subtype="DIR_PATH", options={"SKIP_SAVE"})
    undistort_plate: BoolProperty(name="Undistorted Plate", default=False,
                                  description="Also the undistorted plate as an image sequence (undistorted/)")

    def write(self, context, root):
        files = export_lens(root, self.directory or self.filepath, plate=self.undistort_plate)
        return os.path.dirname(files[0])


class VGGT_OT_redistort_scene(_ExportOperator):
    """Write the lens package and add a plate-sized scene whose compositor renders this scene through the camera
    and redistorts it onto the plate's lens (render that scene for CG that lies over the original plate)"""

    bl_idname = "vggt.redistort_scene"
    bl_label = "Redistort Scene"
    directory: StringProperty(subtype="DIR_PATH", options={"SKIP_SAVE"})

    def write(self, context, root):
        out = redistort_scene(context, root, self.directory or self.filepath)
        return f"scene '{out.name}' (ST-maps in {out['vggt_redistort']})"


class VGGT_OT_export_colmap(_ExportOperator):
    """Write a COLMAP dataset (images/ and sparse/0/) from the import's cache, in the scene's world"""

    bl_idname = "vggt.export_colmap"
    bl_label = "Export COLMAP"
    directory: StringProperty(subtype="DIR_PATH", options={"SKIP_SAVE"})

    def write(self, context, root):
        return export_colmap(root, self.directory or self.filepath)


def draw_panel(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """The panel's "Export" box (only when an import is selected)."""
    if setup_ops.find_root(context) is None:
        return
    box = layout.box()
    box.label(text="Export")
    row = box.row(align=True)
    row.operator(VGGT_OT_export_camera.bl_idname, text="Camera", icon="CAMERA_DATA")
    row.operator(VGGT_OT_export_points.bl_idname, text="Points", icon="POINTCLOUD_DATA")
    row.operator(VGGT_OT_export_colmap.bl_idname, text="COLMAP", icon="FILE_FOLDER")
    row.operator(VGGT_OT_export_lens.bl_idname, text="Lens", icon="IMAGE_DATA")
    box.operator(VGGT_OT_redistort_scene.bl_idname, text="Redistort Scene", icon="SCENE_DATA")
    box.operator("vggt.render_qc", icon="RENDER_ANIMATION")  # qc_ops.VGGT_OT_render_qc


classes = (VGGT_OT_export_camera, VGGT_OT_export_points, VGGT_OT_export_colmap, VGGT_OT_export_lens,
           VGGT_OT_redistort_scene)
