"""Per-scene settings of the VGGT panel (``scene.vggt``), their frozen, bpy-free counterparts, and the
run state on the window manager (``window_manager.vggt_run``)."""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)
from bpy.types import PropertyGroup

# numpy only: safe before the optional deps are installed. DEFAULTS: the one set of run defaults (core, both
# command lines, manifest rows and these properties)
from vggt_core import DEFAULTS, InputError

from ..convert import ImportSettings, PlateSettings

# Values 0/1 are what the former boolean "Set Scene From Plate" stored (False/True) in saved files.
SCENE_SETTINGS = [
    ("KEEP", "Keep", "Change no scene settings", 0),
    ("AUTO", "From Plate, Not Strips",
     "Image folders and movie clips set resolution, frame rate, frame range and the active camera; "
     "a Video Sequencer strip leaves the edit's settings alone", 1),
    ("PLATE", "From Plate",
     "Set resolution, frame rate, frame range and the active camera from the plate, strips included "
     "(never while the sequencer holds other strips)", 2),
]
SOURCE_TYPES = [
    ("FOLDER", "Image Folder", "All images in a folder (natural sort order)"),
    ("STRIP", "Active Strip", "The visible (trimmed) range of the active movie or image strip in the Video Sequencer"),
    ("CLIP", "Movie Clip", "A movie clip (Movie Clip Editor footage)"),
]
MODES = [
    ("crop", "Crop", "Resize to 518 px wide and crop the height (what VGGT was trained on)"),
    ("pad", "Pad", "Fit the whole frame in 518x518 with white padding (keeps every pixel)"),
]
LENSES = [
    ("auto", "Auto", "Shared when every frame has the same size (movies, strips, clips), per-frame otherwise"),
    ("per-frame", "Per Frame", "VGGT's own focal length and pixel aspect for every frame"),
    ("shared", "Shared", "One lens for the shot: square pixels, the predictions' median focal length"),
    ("known", "Known", "One lens of the focal length you give"),
    ("zoom", "Zoom", "A focal length per frame, smoothed and refined; one principal point for the shot"),
]
DISTORTIONS = [
    ("none", "None", "No lens distortion"),
    ("k1", "k1", "Radial distortion k1 (onto the Movie Clip's tracking camera)"),
    ("k1k2", "k1, k2", "Radial distortion k1 and k2 (onto the Movie Clip's tracking camera)"),
]
FRAME_NUMBERS = [
    ("PLATE", "From Plate", "The plate's own frame numbers: a numbered image sequence its file numbers "
                            "(shot.1001.png -> 1001), a movie or strip where it plays"),
    ("START", "Start At", "The plate's frame spacing, shifted so the first reconstructed frame is Start At"),
]
MOTIONS = [
    ("auto", "Auto", "Tripod when the shot has too little parallax to triangulate, free otherwise "
     "(the solve report says which and why)"),
    ("free", "Free", "The camera moves: tracks are triangulated into 3D points"),
    ("tripod", "Tripod", "One fixed camera centre (a nodal pan or tilt): only rotations and the lens are solved"),
]
TRACK_REFINES = [
    ("plate", "On the Plate", "Refine every track sub-pixel on the plate's own full-resolution pixels before the "
     "solve (checked both ways; tracks on blank areas, in masks or that fail the check are dropped)"),
    ("none", "None", "Solve on the network's tracks, at its 518-pixel resolution"),
]
POINT_SOURCES = [
    ("depth", "Depth", "Depth maps unprojected through the predicted cameras (usually more accurate)"),
    ("points", "Point Head", "The point head's direct world points"),
]


class VGGTMaskSlot(PropertyGroup):
    """One row of the panel's *Masks* list."""

    mask: PointerProperty(name="Mask", type=bpy.types.Mask,
                          description="A Mask of what moves (actors, cars), drawn and animated in the Movie Clip or "
                                      "Image editor: kept out of the solve and the points, read never changed")


class VGGTSceneProps(PropertyGroup):
    """What to reconstruct and what to import (saved with the scene)."""

    # Source
    source_type: EnumProperty(name="Source", items=SOURCE_TYPES, default="FOLDER")
    folder: StringProperty(name="Folder", subtype="DIR_PATH", description="Folder of images (// = relative to the .blend)")
    movie_clip: PointerProperty(name="Movie Clip", type=bpy.types.MovieClip)

    # Frame selection (source frames, 0-based)
    stride: IntProperty(name="Stride", default=1, min=1, description="Use every N-th frame")
    frame_start: IntProperty(name="Start", default=0, min=0,
                             description="First source frame (0-based; image folders and movie clips)")
    frame_end: IntProperty(name="End", default=0, min=0,
                           description="Source frame to stop before (0 = up to the last frame)")
    max_frames: IntProperty(name="Max Frames", default=32, min=0,
                            description="At most this many frames, spread evenly (0 = no limit). "
                                        "Memory grows with the frame count")
    mode: EnumProperty(name="Preprocess", items=MODES, default=DEFAULTS.mode)
    fps: FloatProperty(name="Frames per Second", default=0.0, min=0.0,
                       description="Movies: sample about this many frames per second of playback, before Stride "
                                   "and Max Frames (0 = every frame)")
    chunk_size: IntProperty(name="Chunk Size", default=DEFAULTS.chunk_size, min=0,
                            description="Frames per network run: longer selections run in overlapping chunks "
                                        "aligned into one world, and an interrupted run resumes from its last "
                                        "chunk (0 = automatic, from free GPU memory or RAM)")
    overlap: IntProperty(name="Overlap", default=DEFAULTS.overlap, min=0,
                         description="Frames each chunk shares with the previous one (0 = automatic)")

    # Camera solve (vggt_core.solve)
    lens: EnumProperty(name="Lens", items=LENSES, default=DEFAULTS.lens)
    lens_focal_mm: FloatProperty(name="Focal Length", default=35.0, min=0.1, unit="CAMERA",
                                 description="Known lens: focal length in mm, on a sensor of Sensor Width")
    lens_sensor_mm: FloatProperty(name="Sensor Width", default=36.0, min=0.1, unit="CAMERA",
                                  description="Known lens: the sensor width the plate's width covers, in mm")
    refine: BoolProperty(name="Refine (Bundle Adjustment)", default=DEFAULTS.refine == "ba",
                         description="Track points through the shot and refine cameras, points and lens "
                                     "by bundle adjustment (pycolmap), with a verdict and the solve error. Off: "
                                     "the network's cameras as predicted, a quick preview (never 'good')")
    distortion: EnumProperty(name="Distortion", items=DISTORTIONS, default=DEFAULTS.distortion)
    motion: EnumProperty(name="Camera Motion", items=MOTIONS, default=DEFAULTS.motion)
    track_refine: EnumProperty(name="Track Refinement", items=TRACK_REFINES, default=DEFAULTS.track_refine)
    track_frames: IntProperty(name="Query Frames", default=DEFAULTS.track_frames, min=1,
                              description="Frames, spread over the shot, whose grid points are tracked "
                                          "through it for the bundle adjustment")
    masks: CollectionProperty(name="Masks", type=VGGTMaskSlot,
                              description="Masks of what moves, all kept out (their union)")
    masks_index: IntProperty(name="Active Mask", default=0, min=0)
    mask_path: StringProperty(name="Matte", subtype="FILE_PATH", default="",
                              description="A matte folder numbered like the plate, or a matte movie: white (or "
                                          "alpha) = what moves (with Masks: their union)")
    mask_invert: BoolProperty(name="Invert Mask", default=DEFAULTS.mask_invert,
                              description="The mask's outside is what moves")
    mask_blank: BoolProperty(name="Hide from the Network", default=DEFAULTS.mask_blank,
                             description="Also paint the masked pixels white in the network's input")
    reject_movers: BoolProperty(name="Reject Moving Tracks", default=DEFAULTS.reject_movers,
                                description="Without a mask, drop whole tracks that do not fit a static scene "
                                            "(shown as red markers)")
    track_markers: BoolProperty(name="Tracks as Markers", default=False,
                                description="Refined tracks as markers of a Movie Clip of the plate made by the "
                                            "import (your own clips are left as they are), and the solved lens "
                                            "on its tracking camera")
    lens_to_my_clip: BoolProperty(name="Lens onto My Clip", default=False,
                                  description="Also put the solved lens on the tracking camera of your own Movie "
                                              "Clip of the plate. Its lens before is kept and comes back when the "
                                              "import is removed, or re-imported without this")

    # Import
    import_cameras: BoolProperty(name="Per-Frame Cameras", default=True, description="One camera per frame")
    import_animated_camera: BoolProperty(name="Animated Camera", default=True,
                                         description="One camera keyed on the frames' timeline positions")
    undistorted_plate: BoolProperty(name="Undistorted Plate", default=True,
                                    description="With solved distortion: the animated camera over the plate "
                                                "undistorted onto the lens's overscan canvas (render size and "
                                                "sensor enlarged), written next to the cache")
    import_points: BoolProperty(name="Point Cloud", default=True)
    point_source: EnumProperty(name="Points From", items=POINT_SOURCES, default="depth")
    import_proxies: BoolProperty(name="Depth Proxies", default=True, description="Textured meshes from the depth maps")
    proxy_every: IntProperty(name="Every Nth", default=5, min=0,
                             description="A depth proxy for every N-th frame (0 = the first frame only)")
    max_proxies: IntProperty(name="At Most", default=40, min=0,
                             description="At most this many depth proxies, spread over the shot (0 = no limit): "
                                         "a long shot at every N-th frame would make hundreds")
    conf_percentile: FloatProperty(name="Confidence %", default=50.0, min=0.0, max=100.0, subtype="PERCENTAGE",
                                   description="Drop points below this confidence percentile")
    max_points: IntProperty(name="Max Points", default=2_000_000, min=0, description="0 = no limit")
    set_scene: EnumProperty(name="Scene Settings", items=SCENE_SETTINGS, default="AUTO")
    frame_numbers: EnumProperty(name="Frame Numbers", items=FRAME_NUMBERS, default="PLATE",
                                description="Timeline frames of the import, and frame numbers of every export")
    frame_numbers_start: IntProperty(name="Start At", default=1001,
                                     description="Frame number of the first reconstructed frame")


class VGGTRunState(PropertyGroup):
    """The current/last run (``window_manager.vggt_run``): on the window manager, so it is never saved
    in the .blend nor rolled back by undo, and one run shows the same in every scene."""

    is_running: BoolProperty(name="Running", default=False)
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    stage: StringProperty(name="Stage", default="")
    last_message: StringProperty(name="Last Message", default="")
    scene_name: StringProperty(name="Scene", default="", description="The scene the running result goes into")


def run_state(context: bpy.types.Context | None = None) -> VGGTRunState:
    """The run state (``window_manager.vggt_run``) of ``context`` (default: ``bpy.context``)."""
    return (context or bpy.context).window_manager.vggt_run


def begin_run(state: VGGTRunState, scene: bpy.types.Scene) -> None:
    """Show a run starting for ``scene``."""
    state.is_running, state.progress, state.stage, state.last_message = True, 0.0, "Starting", ""
    state.scene_name = scene.name


def end_run(state: VGGTRunState, message: str) -> None:
    """Show no run, and ``message`` (the outcome of the last one)."""
    state.is_running, state.progress, state.stage, state.scene_name = False, 0.0, "", ""
    state.last_message = message


def panel_masks(props: VGGTSceneProps) -> list[bpy.types.Mask]:
    """The Masks of the panel's *Masks* list (``props.masks``), in order, each once. Raises InputError (one
    line) for a row without one (never picked, or its Mask deleted since): a run must not quietly leave out
    what the artist meant to mask."""
    rows = [slot.mask for slot in props.masks]
    if None in rows:
        raise InputError(f"Masks: row {rows.index(None) + 1} has no Mask (none picked, or deleted): pick one or "
                         "remove the row")
    return list(dict.fromkeys(rows))


def import_settings(props: VGGTSceneProps, plate: PlateSettings | None, undistorted_dir: str = "") -> ImportSettings:
    """The frozen ``ImportSettings`` for the panel state ``props`` (``scene.vggt``) and ``plate``; the
    undistorted plate (with solved distortion) goes under ``undistorted_dir``.

    A module function, not a method: a Python method on a registered PropertyGroup makes the
    Blender 4.2 bpy module crash at exit.
    """
    return ImportSettings(
        per_frame_cameras=props.import_cameras,
        animated_camera=props.import_animated_camera,
        point_cloud=props.import_points,
        point_source=props.point_source,
        conf_percentile=float(props.conf_percentile),
        max_points=props.max_points if props.max_points > 0 else None,
        depth_proxies=props.import_proxies,
        proxy_every=props.proxy_every,
        max_proxies=props.max_proxies,
        set_scene=props.set_scene == "PLATE" or (props.set_scene == "AUTO" and props.source_type != "STRIP"),
        plate=plate,
        frame_start_at=props.frame_numbers_start if props.frame_numbers == "START" else None,
        track_markers=props.refine and props.track_markers,
        lens_to_artist_clip=props.refine and props.track_markers and props.lens_to_my_clip,
        undistorted_plate=props.undistorted_plate,
        undistorted_dir=undistorted_dir,
    )


classes = (VGGTMaskSlot, VGGTSceneProps, VGGTRunState)


def register() -> None:
    bpy.types.Scene.vggt = PointerProperty(type=VGGTSceneProps)
    bpy.types.WindowManager.vggt_run = PointerProperty(type=VGGTRunState)


def unregister() -> None:
    del bpy.types.WindowManager.vggt_run
    del bpy.types.Scene.vggt
