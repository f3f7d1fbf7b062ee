"""Resolve the panel's frame source (image folder, VSE strip, movie clip) into pipeline inputs.

Reads bpy data only (main thread) and never imports torch. The result is frozen so the worker thread
can use it without touching bpy.

Frame numbering: *source index* = 0-based frame number inside the video file / image list that is
handed to ``vggt_core.pipeline.reconstruct``; *timeline frame* = the scene frame where Blender shows
that source frame. ``plate.timeline_frames[i]`` belongs to the i-th selected frame, i.e. to
``Reconstruction.frames[i]`` (the pipeline keeps input order).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import bpy

from vggt_core.errors import InputError
from vggt_core.frames import FrameSelection  # numpy only: safe before the optional deps are installed

from .convert import PlateSettings


@dataclass(frozen=True)
class ResolvedSource:
    """What the worker reads and how the importer places it.

    inputs: image folder, video file, or a tuple of image files (``reconstruct``'s ``inputs``).
    selection: the frames to use; explicit source indices for strips and clips.
    plate: footage + the timeline frame of every selected frame; None for an image folder (the
        importer derives it from the frames and lays them out from ``scene.frame_start``).
    """

    inputs: str | tuple[str, ...]
    selection: FrameSelection
    plate: PlateSettings | None


def _pick(count: int, stride: int, max_frames: int) -> list[int]:
    """Positions ``0..count-1`` kept by stride and max_frames (<= 0: no limit), as the pipeline would."""
    return FrameSelection(stride=max(1, stride), max_frames=max_frames if max_frames > 0 else None).pick(count)


def scene_fps(scene: bpy.types.Scene) -> float:
    """Scene frame rate in frames per second (``fps / fps_base``)."""
    return scene.render.fps / scene.render.fps_base


def active_strip(scene: bpy.types.Scene) -> Any | None:
    """The active VSE strip (``sequence_editor.active_strip`` in both Blender 4.2 and 5.0), or None."""
    se = scene.sequence_editor
    return None if se is None else se.active_strip


def resolve(scene: bpy.types.Scene, props: Any) -> ResolvedSource:
    """Turn ``scene.vggt`` (``props.VGGTSceneProps``) into inputs + selection + plate.

    Raises InputError with a one-line fix when the source is missing or unusable.
    """
    if props.source_type == "FOLDER":
        return from_folder(props.folder, stride=props.stride, start=props.frame_start,
                           end=props.frame_end, max_frames=props.max_frames)
    if props.source_type == "STRIP":
        strip = active_strip(scene)
        if strip is None:
            raise InputError("No active strip in the Video Sequencer: select a movie or image strip")
        return from_strip(strip, scene, stride=props.stride, max_frames=props.max_frames)
    if props.source_type == "CLIP":
        if props.movie_clip is None:
            raise InputError("No movie clip chosen: pick one in the VGGT panel")
        return from_clip(props.movie_clip, stride=props.stride, start=props.frame_start,
                         end=props.frame_end, max_frames=props.max_frames)
    raise InputError(f"Unknown source type {props.source_type!r}")


def from_folder(folder: str, stride: int = 1, start: int = 0, end: int = 0, max_frames: int = 0) -> ResolvedSource:
    """An image folder (``//`` paths are relative to the .blend); ``end``/``max_frames`` <= 0: no limit."""
    path = bpy.path.abspath(folder).rstrip("/\\") if folder else ""
    if not path:
        raise InputError("No image folder chosen: set the folder in the VGGT panel")
    if not os.path.isdir(path):
        raise InputError(f"Image folder not found: {path}")
    selection = FrameSelection(
        stride=max(1, stride), start=max(0, start), end=end if end > 0 else None,
        max_frames=max_frames if max_frames > 0 else None,
    )
    return ResolvedSource(path, selection, None)


def from_strip(strip: Any, scene: bpy.types.Scene, stride: int = 1, max_frames: int = 0) -> ResolvedSource:
    """Frames of a movie or image strip's visible (trimmed) range, subsampled.

    Movie strip: timeline frame t shows source index ``t - frame_start + animation_offset_start``
    (mirrored within the strip's content when ``use_reverse_frames``); the visible range is
    ``[frame_final_start, frame_final_end)``. Image strip: Blender's ``strip_elem_from_frame``
    names the file shown at each timeline frame.
    """
    kind = getattr(strip, "type", "")
    visible = range(strip.frame_final_start, strip.frame_final_end)
    timeline = [visible[p] for p in _pick(len(visible), stride, max_frames)]
    if not timeline:
        raise InputError(f"Strip '{strip.name}' shows no frames")
    if kind == "MOVIE":
        path = bpy.path.abspath(strip.filepath)
        if not os.path.isfile(path):
            raise InputError(f"Movie file of strip '{strip.name}' not found: {path}")
        start = round(strip.frame_start)
        sources = []
        for t in timeline:
            offset = t - start
            if strip.use_reverse_frames:
                offset = strip.frame_duration - 1 - offset
            sources.append(offset + strip.animation_offset_start)
        plate = PlateSettings(movie=path, timeline_frames=tuple(timeline), fps=float(strip.fps))
        return ResolvedSource(path, FrameSelection(indices=tuple(sources)), plate)
    if kind == "IMAGE":
        directory = bpy.path.abspath(strip.directory)
        files = []
        for t in timeline:
            elem = strip.strip_elem_from_frame(t)
            if elem is None:
                raise InputError(f"Strip '{strip.name}' has no image at frame {t}")
            files.append(os.path.join(directory, elem.filename))
        plate = PlateSettings(images=tuple(files), timeline_frames=tuple(timeline), fps=scene_fps(scene))
        return ResolvedSource(tuple(files), FrameSelection(), plate)
    raise InputError(f"Strip '{strip.name}' is a {kind.lower()} strip: select a movie or image strip")


def from_clip(clip: Any, stride: int = 1, start: int = 0, end: int = 0, max_frames: int = 0) -> ResolvedSource:
    """Frames of a movie clip (Movie Clip Editor footage).

    Source index i (0-based frame of the file) plays at timeline frame
    ``clip.frame_start + i - clip.frame_offset``. ``start``/``end`` select source indices
    (end exclusive, <= 0: to the end).
    """
    if clip.source != "MOVIE":
        raise InputError(f"Movie clip '{clip.name}' is an image sequence: use the Image Folder source instead")
    path = bpy.path.abspath(clip.filepath)
    if not os.path.isfile(path):
        raise InputError(f"Movie file of clip '{clip.name}' not found: {path}")
    first = max(0, start)
    stop = clip.frame_duration if end <= 0 else min(end, clip.frame_duration)
    sources = [first + p for p in _pick(max(0, stop - first), stride, max_frames)]
    if not sources:
        raise InputError(f"Frames {start}..{end} select nothing from clip '{clip.name}' ({clip.frame_duration} frames)")
    timeline = tuple(clip.frame_start + i - clip.frame_offset for i in sources)
    plate = PlateSettings(movie=path, timeline_frames=timeline, fps=float(clip.fps) or None)
    return ResolvedSource(path, FrameSelection(indices=tuple(sources)), plate)
