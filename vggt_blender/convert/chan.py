"""Nuke ``.chan`` camera files: one line per frame, ``frame tx ty tz rx ry rz vfov`` (no bpy).

The columns are those Nuke's Camera node reads and writes with *import/export chan file*:
translation, rotation in degrees for Nuke's default rotation order ZXY (Z applied first:
``R = Ry Rx Rz``), and the vertical angle of view in degrees. Nuke is Y-up, so Blender's Z-up world
is turned by ``(x, y, z) -> (x, z, -y)``; both programs' cameras look down local -Z with +Y up, so the
camera's own axes need no change. In Nuke set the camera's horizontal aperture to the sensor width
and the vertical aperture to ``sensor width * H / W`` (x pixel aspect) for the focal length to match.
"""
from __future__ import annotations

import numpy as np

# Blender world (Z up) -> Nuke world (Y up)
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def euler_zxy(r: np.ndarray) -> np.ndarray:
    """Angles (rx, ry, rz) in radians with ``r == Ry(ry) @ Rx(rx) @ Rz(rz)`` for a rotation ``r`` [3, 3]."""
    rx = np.arcsin(np.clip(-r[1, 2], -1.0, 1.0))
    return np.array([rx, np.arctan2(r[0, 2], r[2, 2]), np.arctan2(r[1, 0], r[1, 1])])


def vertical_fov_deg(lens_mm: np.ndarray, sensor_width: float, aspect: float) -> np.ndarray:
    """Vertical angle of view in degrees of a horizontally fitted sensor; ``aspect`` = image height /
    width in square units (H * pixel_aspect_y / (W * pixel_aspect_x))."""
    return np.degrees(2.0 * np.arctan(0.5 * sensor_width * aspect / np.asarray(lens_mm, dtype=np.float64)))


def nuke_transforms(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nuke camera translations [F, 3] and ZXY rotations [F, 3] (degrees) of Blender world matrices
    ``matrices`` [F, 4, 4] (any uniform scale is removed). Rotations are unwrapped along the frames so
    Nuke interpolates no 360-degree spins."""
    m = np.asarray(matrices, dtype=np.float64)
    rot = m[:, :3, :3] / np.linalg.norm(m[:, :3, :3], axis=1, keepdims=True)
    rot = Z_UP_TO_Y_UP @ rot
    t = m[:, :3, 3] @ Z_UP_TO_Y_UP.T
    return t, np.degrees(np.unwrap(np.array([euler_zxy(r) for r in rot]), axis=0))


def chan_text(frames: np.ndarray, matrices: np.ndarray, lens_mm: np.ndarray, sensor_width: float,
              aspect: float) -> str:
    """The ``.chan`` file for a camera with Blender world matrices ``matrices`` [F, 4, 4] and focal
    lengths ``lens_mm`` [F] at ``frames`` [F] (``nuke_transforms``)."""
    t, angles = nuke_transforms(matrices)
    fov = vertical_fov_deg(lens_mm, sensor_width, aspect)
    lines = [f"{int(f)}\t" + "\t".join(f"{v:.9g}" for v in (*t[i], *angles[i], fov[i])) for i, f in enumerate(frames)]
    return "\n".join(lines) + "\n"
