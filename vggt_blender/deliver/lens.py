"""The import's lens package (lens.json and ST-maps, ``vggt_core.deliver.lens_package``), alone or with the
undistorted plate, and the redistort scene that renders CG onto the plate's lens."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

import bpy

from ..builders.cameras import OVERSCAN_KEY
from .imported import animated_camera, cached_reconstruction, camera_frames, collection_of, frame_numbers_of, lens_of

if TYPE_CHECKING:
    from vggt_core import Reconstruction, ShotLens


def stmap_pattern(lens: "ShotLens") -> str:
    """The undistort ST-map's name as Nuke reads it: ``stmap_undistort.exr``, a zoom's ``stmap_undistort.####.exr``."""
    from vggt_core.deliver import UNDISTORT_MAP, UNDISTORT_SEQUENCE

    return UNDISTORT_SEQUENCE.replace("%04d", "####") if lens.zoom else UNDISTORT_MAP


def lens_package_dir(camera_path: str) -> str:
    """The lens package written beside a camera export: ``shot.abc`` -> ``shot_lens/``."""
    return os.path.splitext(camera_path)[0] + "_lens"


def export_lens(root: bpy.types.Object, directory: str, recon: "Reconstruction | None" = None,
                plate: bool = False, progress: Callable[[float], None] | None = None) -> list[str]:
    """The import's lens package (``vggt_core.deliver.lens_package``: lens.json, undistort/redistort ST-maps and with
    ``plate`` the undistorted plate on the import's frame numbers) in ``directory``. ``recon`` (for the plate's
    frames) defaults to the import's cache. Returns the absolute paths written."""
    from vggt_core import write_lens_package, write_undistorted_plate

    lens = lens_of(root, recon)
    directory = os.path.abspath(bpy.path.abspath(directory))
    files = write_lens_package(directory, lens)
    if plate:
        recon = recon if recon is not None else cached_reconstruction(collection_of(root))
        files += write_undistorted_plate(os.path.join(directory, "undistorted"), recon.frames, lens,
                                         frame_numbers_of(collection_of(root), recon), progress)
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
    write_lens_package(directory, lens, frames)
    col = collection_of(root)
    return build_redistort_scene(col, scene, lens, directory, frames, col.name, layer)
