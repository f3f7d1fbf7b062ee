"""OpenCV cameras -> Blender camera settings and the root Empty's matrix (VGGT world -> Z-up)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the runtime path never needs these imported eagerly
    from vggt_core import Reconstruction

# VGGT world (OpenCV, y down) -> Blender Z-up: (x, y, z) -> (x, z, -y); a rotation of -90 deg about X.
Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# OpenCV camera axes -> Blender camera axes (flip y and z).
_CV_TO_BL_CAM = np.diag([1.0, -1.0, -1.0])
# Pixels read for a frame's clipping range and for the shot's camera display size (see their functions).
CLIP_SAMPLE_PIXELS = 1 << 14
DISPLAY_SAMPLE_PIXELS = 1 << 22


@dataclass(frozen=True, eq=False)
class BlenderCamera:
    """One OpenCV camera expressed as Blender camera settings.

    matrix_world: [4, 4] float64 object matrix **relative to the root Empty** (i.e. in VGGT world).
    lens_mm, sensor_width: with ``sensor_fit='HORIZONTAL'``; lens = fx * sensor_width / W.
    shift_x, shift_y: principal-point offset as fractions of the image width.
    resolution: (W, H) of the original plate in pixels.
    pixel_aspect_x, pixel_aspect_y: render pixel aspect (both >= 1) encoding fx != fy.
    clip_start, clip_end: suggested clipping range (world units) from the frame's depth.
    """

    matrix_world: np.ndarray
    lens_mm: float
    sensor_width: float
    shift_x: float
    shift_y: float
    resolution: tuple[int, int]
    pixel_aspect_x: float
    pixel_aspect_y: float
    clip_start: float = 0.01
    clip_end: float = 1000.0


def camera_matrix_world(extrinsic: np.ndarray) -> np.ndarray:
    """[4, 4] Blender object matrix of a camera from its OpenCV camera-from-world ``[R | t]`` ([3, 4]).

    Camera centre C = -R^T t; the Blender camera's axes are the OpenCV camera's with y, z negated.
    """
    e = np.asarray(extrinsic, dtype=np.float64)
    r, t = e[:3, :3], e[:3, 3]
    m = np.eye(4)
    m[:3, :3] = r.T @ _CV_TO_BL_CAM
    m[:3, 3] = -r.T @ t
    return m


def opencv_to_blender_camera(
    intrinsic: np.ndarray,
    extrinsic: np.ndarray,
    width: int,
    height: int,
    sensor_width: float = 36.0,
    clip: tuple[float, float] = (0.01, 1000.0),
) -> BlenderCamera:
    """Convert K ([3, 3], pixels, continuous convention) and camera-from-world ``[R | t]`` ([3, 4]).

    Blender models fy != fx through the render pixel aspect (fy = fx * aspx / aspy); both aspect
    values are kept >= 1 as the UI requires. ``sensor_fit`` must be HORIZONTAL (AUTO would switch to
    a vertical fit for portrait plates and break these formulas).
    """
    k = np.asarray(intrinsic, dtype=np.float64)
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if not (fx > 0 and fy > 0 and width > 0 and height > 0):
        raise ValueError(f"invalid camera: fx={fx}, fy={fy}, size={width}x{height}")
    if fx >= fy:
        asp_x, asp_y = 1.0, fx / fy
    else:
        asp_x, asp_y = fy / fx, 1.0
    ycor = asp_y / asp_x
    return BlenderCamera(
        matrix_world=camera_matrix_world(extrinsic),
        lens_mm=float(fx * sensor_width / width),
        sensor_width=float(sensor_width),
        shift_x=float((width / 2.0 - cx) / width),
        shift_y=float((cy - height / 2.0) * ycor / width),
        resolution=(int(width), int(height)),
        pixel_aspect_x=float(asp_x),
        pixel_aspect_y=float(asp_y),
        clip_start=float(clip[0]),
        clip_end=float(clip[1]),
    )


def clip_range(depth: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """Suggested (clip_start, clip_end) for a frame from its depth map [H, W] (world units).

    A quarter of the 1st-percentile depth to ten times the 99th, so the whole reconstruction
    (other frames' points too) stays inside the frustum; (0.01, 1000) without valid depth. The percentiles
    are of a regular grid of at most ``CLIP_SAMPLE_PIXELS`` pixels: a bound this loose needs no more, and a
    1000-frame shot's full maps took seconds.
    """
    step = max(1, math.ceil(math.sqrt(np.size(depth) / CLIP_SAMPLE_PIXELS)))
    d = np.asarray(depth[::step, ::step], dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    if valid is not None:
        ok &= np.asarray(valid[::step, ::step], dtype=bool)
    if not ok.any():
        return (0.01, 1000.0)
    lo, hi = np.percentile(d[ok], [1.0, 99.0])
    return (float(max(0.25 * lo, 1e-6)), float(max(10.0 * hi, 1e-3)))


def frame_cameras(recon: "Reconstruction", sensor_width: float = 36.0) -> list[BlenderCamera]:
    """One ``BlenderCamera`` per frame, at each frame's original plate size."""
    out = []
    for i, fr in enumerate(recon.frames):
        out.append(
            opencv_to_blender_camera(
                recon.intrinsics[i], recon.extrinsics[i], fr.width, fr.height, sensor_width,
                clip=clip_range(recon.depth[i], recon.valid[i]),
            )
        )
    return out


def root_matrix(scale: float = 1.0) -> np.ndarray:
    """[4, 4] matrix of the root Empty: VGGT world (OpenCV, y down) -> Blender Z-up, times ``scale``."""
    m = np.eye(4)
    m[:3, :3] = Z_UP * float(scale)
    return m


def camera_display_size(recon: "Reconstruction") -> float:
    """Camera display size (world units before the root's scale) in proportion to the scene: a tenth
    of the median valid depth, so frusta neither swamp nor vanish in the point cloud; 0.1 without depth.
    The median is over evenly spaced frames holding at most ``DISPLAY_SAMPLE_PIXELS`` pixels (all frames of
    a short shot): a float64 copy of a 1000-frame shot's depth was gigabytes."""
    step = max(1, math.ceil(np.size(recon.depth) / DISPLAY_SAMPLE_PIXELS))
    d = np.asarray(recon.depth[::step], dtype=np.float64)
    ok = np.asarray(recon.valid[::step], dtype=bool) & np.isfinite(d) & (d > 0)
    return float(0.1 * np.median(d[ok])) if ok.any() else 0.1
