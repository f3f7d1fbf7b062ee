"""Pure geometry of the QC render's overlay (no bpy): the ground-plane grid, the marker spheres, the plate's
crop of an overscan canvas and the plate card's placement in front of the camera.

World units are the scene's (Z up, the floor at Z = 0 after Set Floor). Camera-local coordinates are
Blender's (the camera looks down -Z, +Y up).
"""
from __future__ import annotations

import numpy as np


def grid_mesh(centre: np.ndarray, half_size: float, lines: int, width: float) -> tuple[np.ndarray, np.ndarray]:
    """A square grid on the plane Z = 0 as thin quads (rendered solid: no line primitives in a render).

    centre: [2] XY of the grid's centre; half_size: half its side (> 0); lines: lines per direction (>= 2);
    width: a line's width, world units. Returns vertices [4 * 2 * lines, 3] float32 and quads [2 * lines, 4] int32.
    """
    cx, cy = float(centre[0]), float(centre[1])
    t = np.linspace(-half_size, half_size, lines)
    w = width / 2
    quads = []
    for s in t:  # lines along Y at x = s, then along X at y = s
        quads.append([(cx + s - w, cy - half_size), (cx + s + w, cy - half_size), (cx + s + w, cy + half_size),
                      (cx + s - w, cy + half_size)])
        quads.append([(cx - half_size, cy + s - w), (cx + half_size, cy + s - w), (cx + half_size, cy + s + w),
                      (cx - half_size, cy + s + w)])
    xy = np.asarray(quads, np.float64).reshape(-1, 2)
    verts = np.c_[xy, np.zeros(len(xy))].astype(np.float32)
    return verts, np.arange(len(xy), dtype=np.int32).reshape(-1, 4)


def octahedra(points: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """One octahedron of ``radius`` (world units) centred on each of ``points`` [N, 3]: a marker whose
    rendered centroid is the point's projection (it is symmetric about its centre). Returns vertices
    [6N, 3] float32 and triangles [8N, 3] int32."""
    base = np.array([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)], np.float64) * radius
    tris = np.array([(0, 2, 4), (2, 1, 4), (1, 3, 4), (3, 0, 4), (2, 0, 5), (1, 2, 5), (3, 1, 5), (0, 3, 5)])
    p = np.asarray(points, np.float64).reshape(-1, 3)
    verts = (p[:, None, :] + base[None]).reshape(-1, 3).astype(np.float32)
    faces = (tris[None] + 6 * np.arange(len(p))[:, None, None]).reshape(-1, 3).astype(np.int32)
    return verts, faces


def plate_uv_crop(plate_wh: tuple[int, int], canvas_wh: tuple[int, int]) -> tuple[float, float, float, float]:
    """(u0, v0, u1, v1): the plate's own frame inside an image ``canvas_wh`` centred on it (the overscan
    canvas of ``vggt_core.deliver.lens_package``, or the plate itself: (0, 0, 1, 1)), as UVs (origin bottom-left)."""
    (w, h), (wo, ho) = plate_wh, canvas_wh
    du, dv = (wo - w) / 2 / wo, (ho - h) / 2 / ho
    return du, dv, 1.0 - du, 1.0 - dv


def card_placement(frame_corners: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """(location [3], scale [3]) in camera-local space of a unit square card (corners at +-0.5) that fills
    the camera's frame at ``distance`` in front of it. frame_corners: [4, 3] the camera's frame
    (``Camera.view_frame``) at any one depth (z < 0), shifts included."""
    c = np.asarray(frame_corners, np.float64)
    k = distance / -c[0, 2]
    lo, hi = c[:, :2].min(0) * k, c[:, :2].max(0) * k
    mid = (lo + hi) / 2
    return np.array([mid[0], mid[1], -distance]), np.array([hi[0] - lo[0], hi[1] - lo[1], 1.0])
