"""Import settings: what ``import_reconstruction`` builds and the plate behind the animated camera."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

INTERPOLATIONS = ("CONSTANT", "LINEAR", "BEZIER")


@dataclass(frozen=True)
class PlateSettings:
    """The footage behind the animated camera and how reconstructed frames sit on the timeline.

    movie: a video file shown as the animated camera's background (a MovieClip).
    images: an image sequence (numbered files; the first one is enough for Blender to find the rest).
    frame_start: timeline frame that shows the plate's first frame (source index 0);
        None -> ``scene.frame_start``.
    timeline_frames: explicit timeline frame for each reconstructed frame (overrides everything).
    fps: frames per second for the scene when ``ImportSettings.set_scene``; None -> the clip's fps.
    strip: name of the Video Sequencer strip the frames come from (None: not a strip). Scene
        settings are never changed when the sequencer holds any strip but this one.
    """

    movie: str | None = None
    images: tuple[str, ...] = ()
    frame_start: int | None = None
    timeline_frames: tuple[int, ...] | None = None
    fps: float | None = None
    strip: str | None = None


@dataclass(frozen=True)
class ImportSettings:
    """What ``import_reconstruction`` builds. All lengths are in VGGT world units before ``scale``.

    per_frame_cameras: one static camera object per reconstructed frame.
    animated_camera: one camera keyed on the timeline frames (see ``PlateSettings``).
    camera_interpolation: "LINEAR" (default: a solved camera between keys moves smoothly, like
        Blender's own tracker output), "CONSTANT" or "BEZIER".
    point_cloud: a point mesh with a confidence-threshold Geometry Nodes modifier.
    point_source: "depth" (depth unprojected through the cameras) or "points" (point head).
    conf_percentile: drop points below this confidence percentile at import (0-100).
    max_points: random subsample cap (None = no cap). voxel_size: optional grid decimation.
    point_radius: radius of the rendered points (world units before ``scale``).
    depth_proxies: textured per-frame meshes from the depth maps, for frames
        ``proxy_frames`` (explicit indices) or every ``proxy_every``-th frame (0 = first frame only), at
        most ``max_proxies`` of those spread over the shot (0 = no limit): a 1000-frame shot at every 5th
        frame would get 200 overlapping meshes, slow to build and to draw, and no clearer than 40.
    proxy_stride: sample every n-th model pixel (1 = full resolution, 268k vertices at 518x518).
    proxy_max_depth_jump: k in ``(dmax - dmin) <= k * dmin``; quads across larger jumps are dropped.
    proxy_conf_percentile: per-frame confidence percentile below which proxy pixels are invalid.
    sensor_width: Blender sensor width in mm (any value: lens is derived from it).
    scale: uniform scale of the root Empty.
    set_scene: set render resolution/pixel aspect, fps, frame range and the active camera from the
        plate, except over a Video Sequencer edit that holds other strips (then only the camera).
    plate: footage for the animated camera; None -> derived from the frames (one video -> movie,
        a consistently numbered image sequence -> images).
    frame_start_at: *Frame Numbers: Start At N*: the timeline frames (and every export's frame numbers)
        shifted so the first reconstructed frame is N, spacing kept; None = *From Plate* (a numbered image
        sequence keys on its file numbers, a movie or strip as it plays: ``convert.timeline_frames``).
    locators: at most this many solved points (``vggt_core.deliver.locators``: best observed, evenly spread) as
        empties in a "<name> locators" collection, exported with the camera (0: none).
    track_markers: the camera solve's tracks as markers of a Movie Clip of the plate that the import owns (the
        animated camera's, else one made from the plate's movie or numbered images; never a clip the artist
        already has), and its lens on that clip's tracking camera (``builders.markers``).
    lens_to_artist_clip: with ``track_markers`` and one lens for the shot, the solved lens also onto the
        tracking camera of the artist's own clip of the plate. Its values before are kept and come back when
        the import fails, is removed, or is re-imported without this (``builders.clip_lens``).
    undistorted_plate: with solved distortion, the animated camera is the pinhole camera on the lens's overscan
        canvas (render resolution and sensor enlarged) over the plate undistorted onto that canvas
        (``convert.undistorted``), written under ``undistorted_dir``; off, or without a folder: the plate-sized
        camera over the distorted plate.
    """

    per_frame_cameras: bool = True
    animated_camera: bool = True
    camera_interpolation: str = "LINEAR"
    point_cloud: bool = True
    point_source: str = "depth"
    conf_percentile: float = 50.0
    max_points: int | None = 2_000_000
    voxel_size: float | None = None
    point_radius: float = 0.005
    depth_proxies: bool = True
    proxy_every: int = 5
    proxy_frames: tuple[int, ...] | None = None
    max_proxies: int = 40
    proxy_stride: int = 2
    proxy_max_depth_jump: float = 0.05
    proxy_conf_percentile: float = 10.0
    sensor_width: float = 36.0
    scale: float = 1.0
    set_scene: bool = True
    plate: PlateSettings | None = None
    frame_start_at: int | None = None
    locators: int = 300
    track_markers: bool = False
    lens_to_artist_clip: bool = False
    undistorted_plate: bool = True
    undistorted_dir: str = ""

    def __post_init__(self) -> None:
        if self.camera_interpolation not in INTERPOLATIONS:
            raise ValueError(f"camera_interpolation must be one of {INTERPOLATIONS}")
        if self.point_source not in ("depth", "points"):
            raise ValueError('point_source must be "depth" or "points"')
        if self.proxy_stride < 1 or self.proxy_every < 0 or self.max_proxies < 0:
            raise ValueError("proxy_stride must be >= 1, proxy_every and max_proxies >= 0")
        if self.locators < 0:
            raise ValueError("locators must be >= 0")

    def to_json(self) -> str:
        """JSON text (stored on the imported collection for "Re-import from cache")."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ImportSettings":
        """Inverse of ``to_json``; unknown keys (from other versions) are ignored."""
        raw: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in raw.items() if k in known}
        if kw.get("proxy_frames") is not None:
            kw["proxy_frames"] = tuple(kw["proxy_frames"])
        if kw.get("plate") is not None:
            p = dict(kw["plate"])
            p["images"] = tuple(p.get("images") or ())
            if p.get("timeline_frames") is not None:
                p["timeline_frames"] = tuple(p["timeline_frames"])
            kw["plate"] = PlateSettings(**{k: v for k, v in p.items() if k in {f.name for f in fields(PlateSettings)}})
        return cls(**kw)
