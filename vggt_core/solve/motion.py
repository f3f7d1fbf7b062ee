"""Camera motion models for the solve: ``free`` (every camera moves; tracks triangulated into 3D points) or
``tripod`` (nodal: one camera centre for the shot, only rotations and the lens move; tracks are directions).

Why a tripod model: a pan without parallax cannot triangulate its tracks, and free 3D points let the adjuster
fit any wrong camera with a small error. With one centre, the tracks pin the rotations and the lens exactly.

``auto`` picks ``tripod`` when the parallax cannot support triangulation: VGGT's camera centres stay within
``TRIPOD_BASELINE`` of the scene depth (VGGT's median depth), or the tracks' median triangulation angle through
VGGT's cameras is under ``TRIPOD_ANGLE_DEG``. Frames of reference: VGGT's world (first camera), camera-from-world.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..reconstruction import Reconstruction
from .verdict import parallax_deg

MOTIONS = ("auto", "free", "tripod")
TRIPOD_BASELINE = 0.05  # camera centres within 5 % of the scene depth: a nodal move as far as tracks can tell
TRIPOD_ANGLE_DEG = 0.5


def check(motion: str) -> None:
    """Raise InputError (one line) for an unknown motion model."""
    if motion not in MOTIONS:
        raise InputError(f"unknown camera motion {motion!r} (use one of {', '.join(MOTIONS)})")


def centres(rt: np.ndarray) -> np.ndarray:
    """``[S, 3]`` camera centres of camera-from-world ``rt [S, 3, 4]``."""
    return np.einsum("sji,sj->si", rt[:, :, :3], -rt[:, :, 3])


def scene_depth(recon: Reconstruction) -> float:
    """VGGT's median depth over the frames' real pixels (world units)."""
    d = recon.depth[recon.valid] if recon.valid is not None else recon.depth.ravel()
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if d.size else 1.0


def resolve(motion: str, recon: Reconstruction, rt: np.ndarray, points: np.ndarray, seen: np.ndarray) -> tuple[str, str]:
    """``(free | tripod, why)``: ``motion`` itself unless ``auto``; why is one line with the numbers behind it.

    rt [S,3,4]: VGGT's cameras; points [N,3] / seen [S,N]: the tracks triangulated through them."""
    check(motion)
    depth = scene_depth(recon)
    c = centres(rt)
    baseline = float(np.max(np.linalg.norm(c - c[0], axis=1))) / depth
    angle = parallax_deg(rt, points, seen)
    numbers = (f"camera baseline {baseline:.1%} of the scene depth, median triangulation angle {angle:.2f} degrees "
               "through VGGT's cameras")
    if motion != "auto":
        return motion, f"{motion} (as asked; {numbers})"
    if baseline < TRIPOD_BASELINE or angle < TRIPOD_ANGLE_DEG:
        return "tripod", f"auto chose tripod: too little parallax to triangulate ({numbers})"
    return "free", f"auto chose free: {numbers}"


def nodal_start(k: np.ndarray, rt: np.ndarray, uv: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tripod start: cameras ``[S,3,4]`` with VGGT's rotations about one centre (the first camera's, the world
    origin) and unit world directions ``[N,3]``: each track's ray on its query frame ``first [N]``."""
    out = rt.copy()
    out[:, :, 3] = 0.0
    n = np.arange(uv.shape[1])
    cam = np.einsum("nij,nj->ni", np.linalg.inv(k[first]), np.c_[uv[first, n], np.ones(len(n))])
    cam /= np.linalg.norm(cam, axis=1, keepdims=True)
    world = np.einsum("nji,nj->ni", out[first, :, :3], cam)  # R^T d
    return out, world


def nodal_result(rt: np.ndarray, points: np.ndarray, ray_depth: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted tripod cameras and directions ``points [N,3]`` back in the contract's world: rotations relative
    to the first camera, every centre at its origin; points along their directions at ``ray_depth [N]`` (VGGT's
    z-depth of each track on frame ``first [N]``), so points sit where VGGT's depth puts them."""
    r0 = rt[0, :, :3]
    out = np.zeros_like(rt)
    out[:, :, :3] = rt[:, :, :3] @ r0.T
    dirs = points @ r0.T  # the first camera's frame
    cam = np.einsum("nij,nj->ni", out[first, :, :3], dirs)
    with np.errstate(divide="ignore", invalid="ignore"):
        cam = cam / cam[:, 2:3] * ray_depth[:, None]
    return out, np.einsum("nji,nj->ni", out[first, :, :3], np.nan_to_num(cam))
