"""``import_reconstruction``: a Reconstruction -> one new collection of Blender objects, all or nothing."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bpy
import numpy as np

from .. import convert
from ..convert import ImportSettings
from ..convert.setup import scale_of, setup_of
from .cameras import build_animated_camera, build_frame_cameras
from .datablocks import ROOT_KEY, Ledger, new_object
from .depth_mesh import build_depth_proxy
from .locators import build_locators
from .points import build_point_cloud

if TYPE_CHECKING:
    from vggt_core import ShotLens
    from vggt_core import Reconstruction

# Scene settings ``set_scene`` may change; restored if anything fails afterwards.
_SCENE_FIELDS = (("render", "resolution_x"), ("render", "resolution_y"), ("render", "resolution_percentage"),
                 ("render", "pixel_aspect_x"), ("render", "pixel_aspect_y"), ("render", "fps"),
                 ("render", "fps_base"), (None, "frame_start"), (None, "frame_end"), (None, "camera"))


def _scene_of(context_or_scene: Any) -> bpy.types.Scene:
    if context_or_scene is None:
        return bpy.context.scene
    if isinstance(context_or_scene, bpy.types.Scene):
        return context_or_scene
    return context_or_scene.scene


def _child_collection(ledger: Ledger, parent: bpy.types.Collection, name: str) -> bpy.types.Collection:
    col = ledger.add(bpy.data.collections.new(name))
    parent.children.link(col)
    return col


def _edit_strips(scene: bpy.types.Scene, plate_strip: str | None) -> list[str]:
    """Names of the scene's sequencer strips other than the plate's own strip (an edit to protect)."""
    se = scene.sequence_editor
    if se is None:
        return []
    strips = se.strips_all if hasattr(se, "strips_all") else se.sequences_all  # 5.0 / 4.2
    return [s.name for s in strips if s.name != plate_strip]


def _configure_scene(scene: bpy.types.Scene, cam: convert.BlenderCamera, timeline, camera_obj,
                     fps: float | None, plate_strip: str | None = None) -> list[str]:
    """Plate resolution and pixel aspect, fps, the keyed frame range and the active camera.

    Over a Video Sequencer edit holding strips other than ``plate_strip`` only the active camera is
    set: the edit's resolution, fps and frame range belong to it. Returns what changed, one short
    phrase per setting (empty when nothing did).
    """
    changes = []
    r = scene.render
    edit = _edit_strips(scene, plate_strip)
    if edit:
        changes.append(f"kept the edit's resolution, fps and frame range (the sequencer holds {len(edit)} "
                       "other strips)")
    else:
        old = (r.resolution_x, r.resolution_y, r.resolution_percentage, r.pixel_aspect_x, r.pixel_aspect_y)
        r.resolution_x, r.resolution_y = cam.resolution
        r.resolution_percentage = 100
        r.pixel_aspect_x, r.pixel_aspect_y = cam.pixel_aspect_x, cam.pixel_aspect_y
        if old != (r.resolution_x, r.resolution_y, r.resolution_percentage, r.pixel_aspect_x, r.pixel_aspect_y):
            changes.append(f"resolution {r.resolution_x}x{r.resolution_y} (was {old[0]}x{old[1]} at {old[2]}%)")
        if fps and fps > 0:
            old_fps = r.fps / r.fps_base
            r.fps = max(1, round(fps))
            r.fps_base = r.fps / fps
            if abs(old_fps - fps) > 1e-6:
                changes.append(f"{fps:g} fps (was {old_fps:g})")
        old_range = (scene.frame_start, scene.frame_end)
        scene.frame_start, scene.frame_end = int(min(timeline)), int(max(timeline))
        if old_range != (scene.frame_start, scene.frame_end):
            changes.append(f"frames {scene.frame_start}-{scene.frame_end} (was {old_range[0]}-{old_range[1]})")
    if camera_obj is not None and scene.camera != camera_obj:
        scene.camera = camera_obj
        changes.append(f"active camera '{camera_obj.name}'")
    return changes


def lens_json(lens: "ShotLens") -> str:
    """The shot's lens (``vggt_core.deliver.lens_package.ShotLens``) as JSON: stored on the import, the one lens
    description every export reads (no cache needed)."""
    import json

    return json.dumps(lens.to_dict())


def solve_props(col: bpy.types.Collection, recon: "Reconstruction") -> None:
    """The camera solve on the collection: "vggt_solve" (the report as JSON, ``vggt_core.solve.report``) and
    "vggt_solve_summary" (one line) when a solve ran, and "vggt_solve_graph" (the name of a packed image of the
    per-frame error graph, ``vggt_core.solve.graph``) when it adjusted; "vggt_lens_warning" when frames differ
    in size or pixel aspect (a per-frame lens), so one animated camera cannot fit them all."""
    import json
    import os
    import tempfile

    from vggt_core.solve import write_error_graph

    from vggt_core.solve import aspect_warning
    from vggt_core.solve import summary_line

    if recon.solve is not None:
        col["vggt_solve"] = json.dumps(recon.solve)
        col["vggt_solve_summary"] = summary_line(recon.solve)
        with tempfile.TemporaryDirectory() as tmp:  # packed, so the .blend carries it and no file is left
            path = write_error_graph(recon.solve, os.path.join(tmp, "solve_errors.png"))
            if path is not None:
                image = bpy.data.images.load(str(path))
                image.name = f"{col.name} solve errors"
                image.pack()
                col["vggt_solve_graph"] = image.name
    warning = aspect_warning(recon.intrinsics, [(f.width, f.height) for f in recon.frames])
    if warning:
        col["vggt_lens_warning"] = warning


def _track_markers(ledger: Ledger, anim: bpy.types.Object | None, recon: "Reconstruction",
                   plate: convert.PlateSettings | None, timeline: Any, name: str, settings: ImportSettings) -> None:
    """The solve's tracks onto a Movie Clip of the plate that this import owns (``markers.plate_clip``: never
    the artist's), and its lens onto that clip's tracking camera; with ``settings.lens_to_artist_clip`` the lens
    also onto the artist's own clip of the plate, lent (``clip_lens``)."""
    from .clip_lens import artist_clip, lend_lens
    from .markers import apply_tracking_camera, build_moving_markers, build_track_markers, plate_clip

    if recon.sparse_points is None:
        return
    clips = [] if anim is None else [
        bg.clip for bg in anim.data.background_images if bg.source == "MOVIE_CLIP" and bg.clip is not None]
    clip = plate_clip(ledger, recon, plate, clips[0] if clips else None, timeline, name)
    if clip is None:
        return
    build_track_markers(clip, recon, prefix=name)
    build_moving_markers(clip, recon, prefix=name)  # red: what the solve threw out as moving
    if recon.lens is not None and recon.lens.shared:
        apply_tracking_camera(clip, recon, settings.sensor_width)
        theirs = artist_clip(clip) if settings.lens_to_artist_clip else None
        if theirs is not None:
            lend_lens(ledger, theirs, recon, settings.sensor_width)


def import_setup(col: bpy.types.Collection) -> np.ndarray | None:
    """[4, 4] the Scene Setup of import ``col`` (``convert.setup.setup_of``): its root's world matrix over the one
    it was built at, so the floor, origin, forward, level and scale the artist set, by the operators or by
    moving the root, survive a rebuild. None when the root is gone."""
    from .ownership import root_of

    root = root_of(col)
    if root is None:
        return None
    return setup_of(np.array(root.matrix_world), ImportSettings.from_json(col["vggt_settings"]).scale)


def import_reconstruction(
    recon: "Reconstruction",
    settings: ImportSettings | None = None,
    context_or_scene: Any = None,
    name: str | None = None,
    cache_path: str | None = None,
    setup: np.ndarray | None = None,
) -> bpy.types.Collection:
    """Build ``recon`` into ``scene`` (a Scene, a Context, or None for ``bpy.context.scene``).

    Creates a collection ``name`` (default: from the source) linked to the scene, holding a root
    Empty (VGGT world -> Z-up, times ``settings.scale``, under ``setup``: the Scene Setup [4, 4] of the import
    this one rebuilds, ``setup_of``; its scale scales the cameras' clipping too) that parents every object: per-frame
    cameras (child collection "<name> cameras"), the animated camera, the point cloud, and depth
    proxies (child collection "<name> proxies"). The collection carries custom properties
    "vggt_settings" (``ImportSettings.to_json()``), "vggt_cache" (``cache_path`` or ""),
    "vggt_model", "vggt_num_frames" and, with ``settings.set_scene``, "vggt_scene_changes" (what the
    import changed in the scene's settings, for the one-line report). Every datablock it creates
    (the collection included) carries "vggt_import" = this import's id (``builders.ownership``).
    Must run on the main thread.
    A long ``name`` is shortened (``convert.safe_name``) so that every child's name still fits Blender's limit (63 bytes before 5.0).

    On any exception every datablock created so far is removed and scene settings are restored
    before re-raising, so a failed import leaves the file as it was.
    """
    from vggt_core import shot_lens

    settings = settings or ImportSettings()
    scene = _scene_of(context_or_scene)
    name = convert.safe_name(name or convert.default_name(recon),
                             limit=convert.max_name_bytes(bpy.app.version) - convert.NAME_SUFFIX_ROOM)
    if recon.num_frames == 0:
        raise ValueError("the reconstruction has no frames")

    ledger = Ledger()
    saved = {(a, f): getattr(scene.render if a else scene, f) for a, f in _SCENE_FIELDS}
    try:
        col = ledger.add(bpy.data.collections.new(name))
        scene.collection.children.link(col)
        name = col.name  # Blender may have suffixed it (".001"); keep the children's names consistent
        col["vggt_settings"] = settings.to_json()
        col["vggt_cache"] = cache_path or ""
        col["vggt_model"] = recon.model_id
        col["vggt_num_frames"] = recon.num_frames
        solve_props(col, recon)

        setup = np.eye(4) if setup is None else np.asarray(setup, dtype=np.float64)
        root = new_object(ledger, name, None, col, matrix=setup @ convert.root_matrix(settings.scale))
        root.empty_display_type = "ARROWS"
        root[ROOT_KEY] = True

        clip_scale = settings.scale * scale_of(setup)  # Blender keeps clipping in world units
        cams = convert.frame_cameras(recon, settings.sensor_width)
        plate, timeline = convert.import_timeline(recon.frames, settings, scene.frame_start)
        col["vggt_frame_numbers"] = [int(t) for t in timeline]  # every export's frame of each frame

        frame_cam_objs = []
        if settings.per_frame_cameras:
            cam_col = _child_collection(ledger, col, f"{name} cameras")
            frame_cam_objs = build_frame_cameras(ledger, cams, recon.frames, cam_col, root, name, clip_scale)
        anim = None
        anim_cams = cams
        und = convert.undistorted_plate(recon, settings, scene.frame_start, settings.undistorted_dir)
        lens = und.lens if und is not None else shot_lens(recon, timeline)  # a distorted zoom's: one per key
        col["vggt_lens"] = lens_json(lens)
        if und is not None:
            und.write()  # a no-op after a run: its worker wrote them
            canvas = und.lens.overscan_size()  # a dense search of the plate's edges: once, not per frame
            anim_cams = [convert.overscan_camera(c, recon.intrinsics[i], recon.extrinsics[i], canvas)
                         for i, c in enumerate(cams)]
        if settings.animated_camera:
            anim = build_animated_camera(ledger, anim_cams, timeline, col, root, name, recon.frames, plate,
                                         settings.camera_interpolation, clip_scale, und,
                                         lens if lens.zoom else None)
        if settings.track_markers:
            _track_markers(ledger, anim, recon, plate, timeline, name, settings)
        size = convert.camera_display_size(recon)
        if settings.locators and recon.sparse_points is not None and len(recon.sparse_points):
            build_locators(ledger, recon, settings.locators, _child_collection(ledger, col, f"{name} locators"),
                           root, name, 0.2 * size)
        for cam_obj in (*frame_cam_objs, *([anim] if anim is not None else [])):
            cam_obj.data.display_size = size
        # Points and proxies are reference geometry: hidden from renders (shown in the viewport).
        if settings.point_cloud:
            pts = convert.point_cloud_arrays(recon, settings)
            if len(pts):  # the GN threshold starts at the import's cut (below it there are no points)
                cloud = build_point_cloud(ledger, pts, name, col, root, settings.point_radius,
                                          threshold=min(settings.conf_percentile, float(pts.conf_percentile.min())))
                cloud.hide_render = True
        if settings.depth_proxies:
            proxies = _child_collection(ledger, col, f"{name} proxies")
            for i in convert.proxy_frame_indices(recon.num_frames, settings.proxy_every, settings.proxy_frames,
                                                 settings.max_proxies):
                pm = convert.depth_proxy_mesh(recon, i, settings.proxy_stride, settings.proxy_max_depth_jump,
                                              settings.proxy_conf_percentile)
                if pm.num_faces:
                    build_depth_proxy(ledger, pm, f"{name} proxy {i:04d}", proxies, root,
                                      recon.frames[i]).hide_render = True

        if settings.set_scene:
            fps = plate.fps if plate is not None else None
            clips = [bg.clip for bg in anim.data.background_images if bg.clip is not None] if anim else []
            if fps is None and clips:
                fps = float(clips[0].fps) if getattr(clips[0], "fps", 0) else None
            active = anim or (frame_cam_objs[0] if frame_cam_objs else None)
            changes = _configure_scene(scene, (anim_cams if anim else cams)[0], timeline, active, fps,
                                       plate.strip if plate is not None else None)
            col["vggt_scene_changes"] = "; ".join(changes)
    except BaseException:
        ledger.rollback()
        for (a, f), v in saved.items():
            try:
                setattr(scene.render if a else scene, f, v)
            except (ReferenceError, AttributeError, TypeError):  # e.g. the saved camera was ours
                if f == "camera":
                    scene.camera = None
        raise
    ledger.seal()
    return col
