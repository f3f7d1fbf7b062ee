"""Synthetic shots with a moving object and ground truth (tests and bench only; the product never sees them).

``make_mover_shot`` takes a ``solve_shots.make_shot`` shot and turns a share of its tracks into points on a
rigid box that moves across the room while the camera moves: their tracks are what VGGT's track head would
report for a moving actor (consistent, small per-frame noise), the same noise and outlier share as the rest.
Its ``trajectory`` says where the box is on each frame (VGGT's depth sees it there, ``solve_shots.vggt_depth``).
Its masks are what an artist would draw: per frame the box's projected bounding rectangle, grown by a margin.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from solve_shots import Shot, make_shot, project


@dataclass
class MoverShot:
    shot: Shot  # the observations include the mover's tracks
    moving: np.ndarray  # [N] bool, the tracks on the mover
    masks: list[np.ndarray]  # per frame [H, W] bool plate pixels, True over the mover


def make_mover_shot(
    share: float = 0.25, kind: str = "dolly", travel: tuple[float, float, float] = (-3.0, 0.0, 0.0),
    margin_px: int = 20, seed: int = 0, noise_px: float = 0.5, **kwargs,
) -> MoverShot:
    """A ``make_shot`` shot where ``share`` of the tracks lie on a 2 x 2.5 x 1 box (its centre 8 units in front
    of the first camera) that moves by ``travel`` (world units, first camera's axes) from first frame to last.
    Mover tracks are seen where they are in frame; they keep the shot's noise and outliers."""
    shot = make_shot(kind, seed=seed, noise_px=noise_px, **kwargs)
    rng = np.random.default_rng(seed + 1000)
    frames, n = shot.seen.shape
    moving = np.zeros(n, bool)
    moving[rng.choice(n, int(round(share * n)), replace=False)] = True
    m = int(moving.sum())
    box = np.array([0.5, 0.0, 8.0]) + rng.uniform([-1.0, -1.25, -0.5], [1.0, 1.25, 0.5], (m, 3))
    t = np.linspace(0.0, 1.0, frames)[:, None, None]
    pts = box[None] + t * np.asarray(travel)[None, None]  # [S, m, 3]
    w, h = shot.size
    uv = shot.uv.copy()
    seen = shot.seen.copy()
    outlier = shot.outlier.copy()
    cols = np.flatnonzero(moving)
    masks = []
    for s in range(frames):
        p, z = project(shot.k, shot.extrinsics[s:s + 1], pts[s])
        p, z = p[0], z[0]
        vis = (z > 0.1) & np.all((p >= 0) & (p <= [w, h]), axis=1)
        uv[s, cols] = p + rng.normal(0.0, noise_px, p.shape)
        bad = outlier[s, cols]  # the shot's gross outliers stay where they were drawn, 10-60 px off
        ang = rng.uniform(0, 2 * np.pi, bad.sum())
        uv[s, cols[bad]] += np.c_[np.cos(ang), np.sin(ang)] * rng.uniform(10, 60, bad.sum())[:, None]
        seen[s, cols] = vis
        mask = np.zeros((h, w), bool)
        if vis.any():
            x0, y0 = np.floor(p[vis].min(axis=0)).astype(int) - margin_px
            x1, y1 = np.ceil(p[vis].max(axis=0)).astype(int) + margin_px
            mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = True
        masks.append(mask)
    seen[0, cols] = True  # queried on frame 0, as the track head's queries are
    outlier &= seen
    trajectory = np.repeat(shot.points[None], frames, axis=0)
    trajectory[:, cols] = pts
    points = shot.points.copy()
    points[cols] = pts[0]
    moved = replace(shot, uv=uv, seen=seen, outlier=outlier, points=points, trajectory=trajectory)
    return MoverShot(moved, moving, masks)


def without(shot: Shot, tracks: np.ndarray) -> Shot:
    """``shot`` with the tracks ``tracks`` [N] bool never seen (frame 0's view of them kept, as queries are)."""
    seen = shot.seen.copy()
    seen[1:, tracks] = False
    return replace(shot, seen=seen)
