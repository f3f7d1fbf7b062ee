"""Resolve the panel's frame source (image folder, VSE strip, movie clip) into pipeline inputs.

Reads bpy data only (main thread) and never imports torch. The result is frozen so the worker thread
can use it without touching bpy.

Frame numbering: *source index* = 0-based frame number inside the video file / image list that is
handed to ``vggt_core.run.pipeline.reconstruct``; for a video it is Blender's own movie frame number
(presentation time x the stream's fps, so dropped frames leave gaps in time, not in numbering);
*timeline frame* = the scene frame where Blender shows that source frame.
``plate.timeline_frames[i]`` belongs to the i-th selected frame, i.e. to ``Reconstruction.frames[i]``
(the pipeline keeps input order).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

import bpy

from vggt_core import FrameSelection, InputError  # lazy: safe before the optional deps are installed

from ..convert import PlateSettings


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


def _pick(count: int, stride: int, max_frames: int, fps: float = 0.0, rate: float | None = None) -> list[int]:
    """Positions ``0..count-1`` kept by stride and max_frames (<= 0: no limit), as the pipeline would; with
    ``fps`` > 0 and the frames' playback ``rate`` known, first about ``fps`` frames per second of playback."""
    timed = fps > 0 and bool(rate)
    selection = FrameSelection(stride=max(1, stride), max_frames=max_frames if max_frames > 0 else None,
                               fps=fps if timed else None)
    return selection.pick(count, [p / rate for p in range(count)] if timed else None)


def scene_fps(scene: bpy.types.Scene) -> float:
    """Scene frame rate in frames per second (``fps / fps_base``)."""
    return scene.render.fps / scene.render.fps_base


def sequencer_scene(context_or_scene: Any) -> bpy.types.Scene:
    """The scene whose Video Sequencer the user edits: a Scene as given; for a Context, Blender 5.0's
    ``workspace.sequencer_scene`` when set (the VSE may show another scene than the 3D View), else
    ``context.scene``."""
    if isinstance(context_or_scene, bpy.types.Scene):
        return context_or_scene
    workspace = getattr(context_or_scene, "workspace", None)
    return getattr(workspace, "sequencer_scene", None) or context_or_scene.scene


def active_strip(context_or_scene: Any) -> Any | None:
    """The active strip of ``sequencer_scene(context_or_scene)`` (``sequence_editor.active_strip``
    in both Blender 4.2 and 5.0), or None."""
    se = sequencer_scene(context_or_scene).sequence_editor
    return None if se is None else se.active_strip


def resolve(context: Any, props: Any) -> ResolvedSource:
    """Turn ``scene.vggt`` (``props.VGGTSceneProps``) into inputs + selection + plate.

    ``context``: a Context (the Active Strip comes from its sequencer scene, see ``sequencer_scene``)
    or a Scene. Raises InputError with a one-line fix when the source is missing or unusable.
    """
    if props.source_type == "FOLDER":
        return from_folder(props.folder, stride=props.stride, start=props.frame_start,
                           end=props.frame_end, max_frames=props.max_frames)
    if props.source_type == "STRIP":
        strip = active_strip(context)
        if strip is None:
            raise InputError("No active strip in the Video Sequencer: select a movie or image strip")
        return from_strip(strip, sequencer_scene(context), stride=props.stride, max_frames=props.max_frames,
                          fps=props.fps)
    if props.source_type == "CLIP":
        if props.movie_clip is None:
            raise InputError("No movie clip chosen: pick one in the VGGT panel")
        return from_clip(props.movie_clip, stride=props.stride, start=props.frame_start,
                         end=props.frame_end, max_frames=props.max_frames, fps=props.fps)
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


def _all_strips(scene: bpy.types.Scene) -> Any:
    se = scene.sequence_editor
    if se is None:
        return ()
    return se.strips_all if hasattr(se, "strips_all") else se.sequences_all  # 5.0 / 4.2


def movie_frame_count(path: str) -> int:
    """Blender's frame count of a movie file (read through a temporary MovieClip, removed again)."""
    before = set(bpy.data.movieclips)
    clip = bpy.data.movieclips.load(path, check_existing=True)
    try:
        return int(clip.frame_duration)
    finally:
        if clip not in before:
            bpy.data.movieclips.remove(clip)


def _strip_timing(strip: Any, new: str, old: str) -> Any:
    """A strip timing property under its 5.2 name ``new`` where this Blender has it, else ``old``.

    Blender 5.2 renamed them (frame_final_start/end -> left/right_handle, frame_start ->
    content_start, frame_offset_end -> right_handle_offset, animation_offset_start/end ->
    content_trim_start/end) and removes the old names in 6.0; reading an old name in 5.2 raises a
    DeprecationWarning. (``strip.bl_rna.properties`` is not used: bpy 5.2 raises MemoryError there.)
    """
    value = getattr(strip, new, None)
    return getattr(strip, old) if value is None else value


def _trims(strip: Any) -> tuple[int, int]:
    """Movie frames trimmed off the content's start and end (``animation_offset_start/end`` before 5.2)."""
    return (_strip_timing(strip, "content_trim_start", "animation_offset_start"),
            _strip_timing(strip, "content_trim_end", "animation_offset_end"))


def _content_start(strip: Any) -> float:
    """Timeline frame where the strip's content (trims included) begins."""
    return _strip_timing(strip, "content_start", "frame_start")


def _visible(strip: Any) -> range:
    """Timeline frames the strip shows: ``[left handle, right handle)``."""
    return range(_strip_timing(strip, "left_handle", "frame_final_start"),
                 _strip_timing(strip, "right_handle", "frame_final_end"))


def _content_span(strip: Any) -> int:
    """Timeline frames the strip's whole content spans (trims included)."""
    end = _strip_timing(strip, "right_handle", "frame_final_end")
    return round(end + _strip_timing(strip, "right_handle_offset", "frame_offset_end") - _content_start(strip))


def movie_strip_rate(strip: Any, scene: bpy.types.Scene, movie_frames: int) -> float:
    """Movie frames per timeline frame of a movie strip whose file has ``movie_frames`` frames: 1, or
    ``strip.fps / scene fps`` when the strip's playback rate was adjusted to the scene (the *Adjust
    Playback Rate* option of Add Movie).

    Blender exposes no flag for that adjustment; it shows as the content spanning ``n / rate``
    timeline frames, n = the movie's frames less the trims (``content_trim_start/end``; ``frame_duration``
    is n in 4.2 but the timeline span in 5.0). Raises InputError for timings that are not one uniform
    rate: retiming keys that change the content's span (or more than the two default keys), a Speed
    effect on the strip, strobe.
    """
    name = strip.name
    for other in _all_strips(scene):
        if getattr(other, "type", "") == "SPEED" and getattr(other, "input_1", None) == strip:
            raise InputError(f"Strip '{name}' is retimed by Speed effect '{other.name}': VGGT cannot map its "
                             "frames; remove the effect (or render the retimed strip to a movie) and retry")
    if strip.strobe > 1.0:
        raise InputError(f"Strip '{name}' uses Strobe {strip.strobe:g}: set Strobe to 1 to reconstruct it")
    n = movie_frames - sum(_trims(strip))
    content = _content_span(strip)
    auto = strip.fps / scene_fps(scene) if strip.fps > 0 else 1.0
    if len(strip.retiming_keys) <= 2:
        if content == n:
            return 1.0
        if abs(n / auto - content) <= 1.0:
            return auto
    raise InputError(f"Strip '{name}' is retimed (its {n} movie frames span {content} timeline frames): "
                     "VGGT maps only the movie's own or the scene's playback rate; reset its retiming and retry")


def movie_strip_source_index(strip: Any, timeline_frame: int, rate: float, movie_frames: int) -> int:
    """The movie frame number (Blender's, 0-based) a movie strip shows at ``timeline_frame``.

    Blender's mapping: timeline frames into the content (mirrored for ``use_reverse_frames``), times
    ``rate`` (``movie_strip_rate``), rounded, clamped to the content, plus the start trim
    (``content_trim_start``).
    """
    trim_start, trim_end = _trims(strip)
    n = movie_frames - trim_start - trim_end
    offset = timeline_frame - _content_start(strip)
    if strip.use_reverse_frames:
        offset = _content_span(strip) - 1 - offset
    return min(max(math.floor(offset * rate + 0.5), 0), n - 1) + trim_start


def from_strip(strip: Any, scene: bpy.types.Scene, stride: int = 1, max_frames: int = 0,
               fps: float = 0.0) -> ResolvedSource:
    """Frames of a movie or image strip's visible (trimmed) range ``[left handle, right handle)``
    (``frame_final_start/end`` before 5.2), subsampled; ``scene`` is the scene whose sequencer holds the strip.

    Movie strip: see ``movie_strip_source_index``. Image strip: Blender's ``strip_elem_from_frame``
    names the file shown at each timeline frame.
    """
    kind = getattr(strip, "type", "")
    visible = _visible(strip)
    timeline = [visible[p] for p in _pick(len(visible), stride, max_frames, fps, scene_fps(scene))]
    if not timeline:
        raise InputError(f"Strip '{strip.name}' shows no frames")
    if kind == "MOVIE":
        path = bpy.path.abspath(strip.filepath)
        if not os.path.isfile(path):
            raise InputError(f"Movie file of strip '{strip.name}' not found: {path}")
        count = movie_frame_count(path)
        rate = movie_strip_rate(strip, scene, count)
        sources = [movie_strip_source_index(strip, t, rate, count) for t in timeline]
        plate = PlateSettings(movie=path, timeline_frames=tuple(timeline), fps=float(strip.fps), strip=strip.name)
        return ResolvedSource(path, FrameSelection(indices=tuple(sources)), plate)
    if kind == "IMAGE":
        directory = bpy.path.abspath(strip.directory)
        files = []
        for t in timeline:
            elem = strip.strip_elem_from_frame(t)
            if elem is None:
                raise InputError(f"Strip '{strip.name}' has no image at frame {t}")
            files.append(os.path.join(directory, elem.filename))
        plate = PlateSettings(images=tuple(files), timeline_frames=tuple(timeline), fps=scene_fps(scene),
                              strip=strip.name)
        return ResolvedSource(tuple(files), FrameSelection(), plate)
    raise InputError(f"Strip '{strip.name}' is a {kind.lower()} strip: select a movie or image strip")


_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


def clip_sequence_files(clip: Any) -> list[str]:
    """The image files of an image-sequence movie clip, one per clip frame (0-based).

    Blender plays the numbered files from the one the clip was loaded from, one number per frame:
    clip frame i is file number ``first + i`` with the first file's zero padding.
    """
    path = bpy.path.abspath(clip.filepath)
    folder, base = os.path.split(path)
    m = _NUMBERED.match(base)
    if m is None:
        return [path]
    head, digits, tail = m.groups()
    first = int(digits)
    return [os.path.join(folder, f"{head}{first + i:0{len(digits)}d}{tail}") for i in range(clip.frame_duration)]


def from_clip(clip: Any, stride: int = 1, start: int = 0, end: int = 0, max_frames: int = 0,
              fps: float = 0.0) -> ResolvedSource:
    """Frames of a movie clip (Movie Clip Editor footage): a movie, or an image sequence.

    Source index i (0-based frame of the clip) plays at timeline frame
    ``clip.frame_start + i - clip.frame_offset``. ``start``/``end`` select source indices
    (end exclusive, <= 0: to the end).
    """
    first = max(0, start)
    stop = clip.frame_duration if end <= 0 else min(end, clip.frame_duration)
    sources = [first + p for p in _pick(max(0, stop - first), stride, max_frames, fps, float(clip.fps))]
    if not sources:
        raise InputError(f"Frames {start}..{end} select nothing from clip '{clip.name}' ({clip.frame_duration} frames)")
    timeline = tuple(clip.frame_start + i - clip.frame_offset for i in sources)
    if clip.source == "SEQUENCE":
        files = clip_sequence_files(clip)
        chosen = tuple(files[i] for i in sources)
        missing = next((p for p in chosen if not os.path.isfile(p)), None)
        if missing is not None:
            raise InputError(f"Image of clip '{clip.name}' not found: {missing}")
        plate = PlateSettings(images=chosen, timeline_frames=timeline, fps=float(clip.fps) or None)
        return ResolvedSource(chosen, FrameSelection(), plate)
    path = bpy.path.abspath(clip.filepath)
    if not os.path.isfile(path):
        raise InputError(f"Movie file of clip '{clip.name}' not found: {path}")
    plate = PlateSettings(movie=path, timeline_frames=timeline, fps=float(clip.fps) or None)
    return ResolvedSource(path, FrameSelection(indices=tuple(sources)), plate)
