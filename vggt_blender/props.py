"""Per-scene settings of the VGGT panel (``scene.vggt``), their frozen, bpy-free counterparts, and the
run state on the window manager (``window_manager.vggt_run``)."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import PropertyGroup

from .convert import ImportSettings, PlateSettings

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
POINT_SOURCES = [
    ("depth", "Depth", "Depth maps unprojected through the predicted cameras (usually more accurate)"),
    ("points", "Point Head", "The point head's direct world points"),
]


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
    mode: EnumProperty(name="Preprocess", items=MODES, default="crop")

    # Import
    import_cameras: BoolProperty(name="Per-Frame Cameras", default=True, description="One camera per frame")
    import_animated_camera: BoolProperty(name="Animated Camera", default=True,
                                         description="One camera keyed on the frames' timeline positions")
    import_points: BoolProperty(name="Point Cloud", default=True)
    point_source: EnumProperty(name="Points From", items=POINT_SOURCES, default="depth")
    import_proxies: BoolProperty(name="Depth Proxies", default=True, description="Textured meshes from the depth maps")
    proxy_every: IntProperty(name="Every Nth", default=5, min=0,
                             description="A depth proxy for every N-th frame (0 = the first frame only)")
    conf_percentile: FloatProperty(name="Confidence %", default=50.0, min=0.0, max=100.0, subtype="PERCENTAGE",
                                   description="Drop points below this confidence percentile")
    max_points: IntProperty(name="Max Points", default=2_000_000, min=0, description="0 = no limit")
    set_scene: EnumProperty(name="Scene Settings", items=SCENE_SETTINGS, default="AUTO")


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


def import_settings(props: VGGTSceneProps, plate: PlateSettings | None) -> ImportSettings:
    """The frozen ``ImportSettings`` for the panel state ``props`` (``scene.vggt``) and ``plate``.

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
        set_scene=props.set_scene == "PLATE" or (props.set_scene == "AUTO" and props.source_type != "STRIP"),
        plate=plate,
    )


classes = (VGGTSceneProps, VGGTRunState)


def register() -> None:
    bpy.types.Scene.vggt = PointerProperty(type=VGGTSceneProps)
    bpy.types.WindowManager.vggt_run = PointerProperty(type=VGGTRunState)


def unregister() -> None:
    del bpy.types.WindowManager.vggt_run
    del bpy.types.Scene.vggt
