"""The Reconstruction: the contract between vggt_core and every consumer (cache, exports, Blender).

Conventions (read these before using any array):

* **Frames of reference.** World = VGGT's normalised world: the first frame's camera, OpenCV axes
  (x right, y down, z forward), with an arbitrary global scale chosen by the network (it was trained on
  scenes scaled to unit mean point distance). Extrinsics are **camera-from-world**:
  ``X_cam = R @ X_world + t`` with ``[R | t] = extrinsics[i]``.
* **Pixels.** Two resolutions exist. *Model pixels* are the preprocessed image the network saw
  (``model_size = (H, W)``, multiples of 14). *Original pixels* are the source frame's own pixels
  (``FrameInfo.width x FrameInfo.height``). Pixel coordinates are continuous: the image spans
  ``[0, W] x [0, H]`` and pixel ``(i, j)`` (column, row) has its centre at ``(i + 0.5, j + 0.5)``
  (COLMAP's and Blender's convention; VGGT's centred principal point is ``cx = W / 2``).
* **Units.** Depth and points share the world's arbitrary unit. Angles in radians. Times in seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FrameInfo:
    """Where one input frame came from.

    source: image path, or the video file path.
    index: position of the frame in its source: for videos Blender's movie frame number (0-based,
        by presentation time x frame rate, see ``vggt_core.plate.frames``); for image lists the position in
        the sorted list.
    timestamp: seconds since the stream start (``index / frame rate``) for video frames, None for
        still images.
    width, height: the original frame size in pixels (after EXIF orientation).
    """

    source: str
    index: int
    timestamp: float | None
    width: int
    height: int


@dataclass(frozen=True)
class PreprocessRecord:
    """How one original frame became a model-resolution image, so results map back exactly.

    The original frame (``orig_size = (W0, H0)``) is resized to ``resized_size = (Wr, Hr)`` and then
    placed on the model canvas (``model_size = (Wm, Hm)``) with its top-left corner at ``offset``
    (model pixels; negative when rows/columns were cropped away, positive when padded).
    Continuous model coordinates map to original ones as
    ``u0 = (um - offset[0]) * W0 / Wr`` and ``v0 = (vm - offset[1]) * H0 / Hr``.
    mode: ``"crop"`` or ``"pad"``.
    """

    mode: str
    orig_size: tuple[int, int]
    resized_size: tuple[int, int]
    offset: tuple[int, int]
    model_size: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """Model pixels per original pixel, (sx, sy)."""
        return (self.resized_size[0] / self.orig_size[0], self.resized_size[1] / self.orig_size[1])


LENS_MODELS = ("PINHOLE", "SIMPLE_RADIAL", "RADIAL")  # COLMAP's camera models the exports write
_DISTORTION_TERMS = {"PINHOLE": 0, "SIMPLE_RADIAL": 1, "RADIAL": 2}  # how many of (k1, k2) each model has


@dataclass(frozen=True)
class Lens:
    """The solved lens beyond the pinhole intrinsics (``Reconstruction.intrinsics`` holds each frame's focal and
    principal point): the one place every export, the lens package and the checks read the distortion from.

    model: COLMAP camera model of every frame, one of ``LENS_MODELS``: ``PINHOLE`` (no distortion; fx, fy),
        ``SIMPLE_RADIAL`` (k1) or ``RADIAL`` (k1, k2), both with one focal (fx == fy in the intrinsics). The
        distortion scales normalised coordinates by ``1 + k1 r^2 + k2 r^4`` (COLMAP's, as ``vggt_core.solve`` fits it).
    distortion: per frame ``(k1, k2)``, S pairs (dimensionless, on normalised coordinates); a term the model lacks
        is 0. A lens fixed over the shot repeats one pair; a zoom's may differ per frame.
    shared: one camera for the shot (a ``shared`` or ``known`` lens: every frame has the same intrinsics and
        distortion; COLMAP gets one camera), else a camera per frame (a zoom, or a per-frame lens).
    """

    model: str
    distortion: tuple[tuple[float, float], ...]
    shared: bool

    def __post_init__(self) -> None:
        if self.model not in LENS_MODELS:
            raise ValueError(f"unknown lens model {self.model!r} (one of {', '.join(LENS_MODELS)})")
        terms = _DISTORTION_TERMS[self.model]
        if any(len(d) != 2 or any(d[t] != 0 for t in range(terms, 2)) for d in self.distortion):
            raise ValueError(f"{self.model} has {terms} distortion terms: give (k1, k2) per frame, the others 0")

    @classmethod
    def fixed(cls, model: str, frames: int, k1: float = 0.0, k2: float = 0.0, shared: bool = True) -> "Lens":
        """One distortion ``(k1, k2)`` on every one of ``frames`` frames."""
        return cls(model, ((float(k1), float(k2)),) * frames, shared)

    @property
    def k(self) -> np.ndarray:
        """[S, 2] float64: each frame's (k1, k2)."""
        return np.array(self.distortion, np.float64).reshape(-1, 2)

    @property
    def distorted(self) -> bool:
        """True when the model has distortion terms (``SIMPLE_RADIAL`` or ``RADIAL``)."""
        return self.model != "PINHOLE"

    def params(self, intrinsics: np.ndarray, frame: int) -> list[float]:
        """COLMAP's camera parameters of ``frame`` from its ``intrinsics`` [3, 3] (original pixels): ``fx fy cx cy``
        for PINHOLE, ``f cx cy k1 (k2)`` for SIMPLE_RADIAL (RADIAL)."""
        k = np.asarray(intrinsics, np.float64)
        if self.model == "PINHOLE":
            return [float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])]
        terms = self.distortion[frame][: _DISTORTION_TERMS[self.model]]
        return [float(k[0, 0]), float(k[0, 2]), float(k[1, 2]), *terms]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``from_json`` reads it back exactly: floats round-trip through JSON)."""
        return {"model": self.model, "distortion": [list(d) for d in self.distortion], "shared": self.shared}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Lens":
        return cls(data["model"], tuple((float(a), float(b)) for a, b in data["distortion"]), bool(data["shared"]))


@dataclass
class Reconstruction:
    """Everything one VGGT run produced, per frame, ready for caching, exporting and importing.

    Shapes: S frames, model resolution H x W (``model_size == (H, W)``), N track queries.

    frames: S FrameInfo, in input order.
    preprocess: S PreprocessRecord.
    extrinsics: [S, 3, 4] float32, camera-from-world, OpenCV axes, VGGT normalised world.
    intrinsics: [S, 3, 3] float32, in **original** pixels of each frame (focal and principal point
        mapped back through resize/crop/pad), continuous pixel convention.
    intrinsics_model: [S, 3, 3] float32, the same cameras in model pixels.
    depth: [S, H, W] float32, z-depth along the camera's optical axis (world units), model pixels.
    depth_conf: [S, H, W] float32, >= 1 (VGGT's 1 + exp(x) confidence; larger is better).
    world_points: [S, H, W, 3] float32, the point head's world points (world frame above).
    world_points_conf: [S, H, W] float32, >= 1.
    points_from_depth: [S, H, W, 3] float32, depth unprojected through the predicted cameras at pixel
        centres (u + 0.5, v + 0.5); usually the more accurate geometry.
    colors: [S, H, W, 3] uint8, sRGB colours of the model-resolution pixels.
    valid: [S, H, W] bool, False where the model pixel lies in padding (no original pixel behind it).
    tracks, track_vis, track_conf: optional [S, N, 2] float32 (model pixels, continuous), [S, N], [S, N].
    query_points: optional [N, 2] float32 model pixels on the query's frame.
    query_frames: optional [N] int32, the frame each query point lies on (None: all on frame 0).
    tracks_plate, tracks_plate_vis: optional [S, N, 2] float32 **original** pixels (continuous) and [S, N] bool:
        the same tracks refined on the plate's own full-resolution pixels (``vggt_core.solve.plate_tracks``:
        each query point moved onto texture, each observation aligned sub-pixel to its query frame's patch and
        checked both ways); False where an observation failed that (or the head never saw it), and there
        ``tracks_plate`` holds the head's position. On a distorted plate these are the distorted pixels. The
        solve observes these when present (``vggt_core.solve.tracks.observations``), else the head's tracks.
    solve: optional camera-solve report (``vggt_core.solve.report``: lens, focal before/after, errors in
        original pixels), None when no solve ran.
    lens: the solved ``Lens`` (COLMAP model, per-frame distortion, one camera or one per frame), written by the
        solve with its report; None when no solve ran (a pinhole camera per frame, ``intrinsics``): no distortion.
    sparse_points, sparse_colors: optional [P, 3] float32 world points triangulated from the tracks and
        bundle-adjusted, and their uint8 sRGB colours.
    sparse_obs, sparse_uv: optional [M, 2] int32 (frame index, sparse point index) and [M, 2] float32
        original pixels: the inlier observations of those points.
    moving_tracks: optional [R] int32, the track columns (of ``tracks``) the solve rejected as moving
        (``vggt_core.solve.movers``): kept out of the adjustment and of the sparse points.
    masked: optional [S, H, W] bool, model pixels under the run's masks (``vggt_core.plate.masks``); ``valid`` is
        False there too, so they make no points and no proxy faces.
    chunks: optional, for a shot reconstructed in chunks (``vggt_core.stitch``): per chunk a JSON dict with
        its frame positions (``frames``), ``sim3`` (4x4 world-from-chunk, scale in the 3x3), ``scale``,
        ``shared_frames`` and the fit's ``residual_median`` / ``residual_p90`` (relative to depth), ``inliers``.
    model_id: identity of the weights (repo id or file path + size).
    settings: the run's settings (JSON-serialisable).
    timings: seconds per stage, e.g. {"load": .., "preprocess": .., "model": ..}.
    """

    frames: list[FrameInfo]
    preprocess: list[PreprocessRecord]
    extrinsics: np.ndarray
    intrinsics: np.ndarray
    intrinsics_model: np.ndarray
    depth: np.ndarray
    depth_conf: np.ndarray
    world_points: np.ndarray
    world_points_conf: np.ndarray
    points_from_depth: np.ndarray
    colors: np.ndarray
    valid: np.ndarray
    model_id: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    tracks: np.ndarray | None = None
    track_vis: np.ndarray | None = None
    track_conf: np.ndarray | None = None
    query_points: np.ndarray | None = None
    query_frames: np.ndarray | None = None
    tracks_plate: np.ndarray | None = None
    tracks_plate_vis: np.ndarray | None = None
    chunks: list[dict[str, Any]] | None = None
    solve: dict[str, Any] | None = None
    lens: Lens | None = None
    sparse_points: np.ndarray | None = None
    sparse_colors: np.ndarray | None = None
    sparse_obs: np.ndarray | None = None
    sparse_uv: np.ndarray | None = None
    moving_tracks: np.ndarray | None = None
    masked: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def model_size(self) -> tuple[int, int]:
        """(H, W) of the model-resolution arrays."""
        return (int(self.depth.shape[1]), int(self.depth.shape[2]))
