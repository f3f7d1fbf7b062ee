"""Chunks written into the shot's world: cameras blended across each overlap, every chunk's tracks on the shot's frames
(tied across seams: ``seams``)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..reconstruction import Reconstruction
from . import seams
from .align import World, align, camera_points, transform

TRACK_FIELDS = ("tracks", "track_vis", "track_conf", "query_points", "query_frames")  # see Reconstruction


def _blend_rotation(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """The rotation nearest ``(1 - w) a + w b`` (both [3,3]; chordal mean, fine for the small angles of an overlap)."""
    U, _, Vt = np.linalg.svd((1 - w) * a + w * b)
    return U @ np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))]) @ Vt


def _window(positions: Sequence[int]) -> int:
    """How many of ``positions`` are the chunk's consecutive window (the rest are anchors)."""
    n = 1
    while n < len(positions) and positions[n] == positions[n - 1] + 1:
        n += 1
    return n


def stitch_chunk(world: World, positions: Sequence[int], chunk: Reconstruction) -> dict[str, Any]:
    """Align ``chunk`` and write it into ``world``; returns the chunk's JSON record.

    Frames of the chunk's window already placed from an earlier window (the overlap) are blended: the m shared
    frames, in order, take weight j / (m + 1) (j = 1..m) of this chunk against the earlier copy, for the camera
    (rotation, centre, lens) and the dense maps alike, so the camera eases from one chunk into the next instead
    of jumping at a seam. Window frames placed only as an anchor are replaced (a far-away frame is better seen by
    the chunk around it); anchors are written only where nothing is placed yet.
    """
    fit = align(world, positions, chunk)
    ext, depth, wp = transform(fit, chunk.extrinsics, chunk.depth, chunk.world_points)
    shared = int(world.placed[list(positions)].sum())
    window = _window(positions)
    overlap = [i for i in range(window) if world.windowed[positions[i]]]
    weight = {i: (j + 1) / (len(overlap) + 1) for j, i in enumerate(overlap)}
    for i, p in enumerate(positions):
        if i >= window and world.placed[p]:
            continue
        w = weight.get(i, 1.0)
        if w < 1.0:
            R = _blend_rotation(world.extrinsics[p, :, :3].astype(np.float64), ext[i, :, :3].astype(np.float64), w)
            c = (1 - w) * camera_points(world.extrinsics[p], 0.0)[0] + w * camera_points(ext[i], 0.0)[0]
            world.extrinsics[p] = np.concatenate([R, (-R @ c)[:, None]], 1)
        else:
            world.extrinsics[p] = ext[i]
        for name, value in (("depth", depth[i]), ("world_points", wp[i]), ("intrinsics", chunk.intrinsics[i]),
                            ("intrinsics_model", chunk.intrinsics_model[i]), ("depth_conf", chunk.depth_conf[i]),
                            ("world_points_conf", chunk.world_points_conf[i])):
            target = getattr(world, name)
            target[p] = value if w == 1.0 else (1 - w) * target[p] + w * value
        world.colors[p] = chunk.colors[i]
        world.placed[p] = True
        world.windowed[p] |= i < window
    return {
        "frames": [int(p) for p in positions], "shared_frames": shared, "blended_frames": len(overlap),
        "sim3": fit.matrix.tolist(), "scale": fit.scale, "residual_median": fit.residual_median,
        "residual_p90": fit.residual_p90, "inliers": fit.inliers, "points": fit.points,
    }


def stitch_tracks(n: int, pieces: Sequence[tuple[Sequence[int], dict[str, np.ndarray | None]]]) -> dict[str, Any]:
    """Every chunk's tracks on the shot's ``n`` frames, a point tracked by several chunks as one track
    (``seams``): the ``Reconstruction`` track fields, or {} when no chunk has tracks.

    pieces: (frame positions, the chunk's ``TRACK_FIELDS``) per chunk with tracks, in plan order. Chunk k's
    tracks go to the columns ``seams.track_groups`` gives them, its rows to its frames' positions (model pixels
    carry over: every chunk uses the shot's preprocessing); a frame two chunks of one column hold takes both
    copies through ``seams.combine``; a frame no chunk of a column holds gets uv 0 and visibility/confidence 0
    (not seen). Query frames become shot positions. Memory: tracks [n, M, 2] float32, track_vis and track_conf
    [n, M] float32 and a held mask [n, M] bool for M merged tracks (at most the ~1024 per chunk of
    ``solve.TRACK_QUERIES`` summed), i.e. at most 17 * n * M bytes: 240 frames in 12 chunks, ~50 MB; 1000 frames
    in 48 chunks, ~840 MB.
    """
    if not pieces:
        return {}
    query_frames, query_points = [], []
    for positions, c in pieces:
        pos, m = np.asarray(positions), c["tracks"].shape[1]
        local = c["query_frames"] if c["query_frames"] is not None else np.zeros(m, np.int64)
        query_frames.append(pos[local])
        query_points.append(c["tracks"][local, np.arange(m)] if c["query_points"] is None else c["query_points"])
    column, total = seams.track_groups(query_frames, query_points)
    tracks = np.zeros((n, total, 2), np.float32)
    vis = np.zeros((n, total), np.float32)
    conf = np.zeros((n, total), np.float32) if all(c["track_conf"] is not None for _, c in pieces) else None
    held = np.zeros((n, total), bool)
    points = np.zeros((total, 2), np.float32)
    frames = np.zeros(total, np.int32)
    start = 0
    for (positions, c), qf, qp in zip(pieces, query_frames, query_points):
        pos, m = np.asarray(positions), c["tracks"].shape[1]
        cols = column[start:start + m]
        start += m
        rows, grid = pos[:, None], cols[None, :]
        new = (c["tracks"], c["track_vis"], None if conf is None else c["track_conf"])
        old = (tracks[rows, grid], vis[rows, grid], None if conf is None else conf[rows, grid])
        uv, v, cf = seams.combine(old, new)
        first = ~held[rows, grid]  # nothing there yet: this chunk's copy as it is
        tracks[rows, grid] = np.where(first[..., None], new[0], uv)
        vis[rows, grid] = np.where(first, new[1], v)
        if conf is not None:
            conf[rows, grid] = np.where(first, new[2], cf)
        held[rows, grid] = True
        points[cols], frames[cols] = qp, qf
    return {"tracks": tracks, "track_vis": vis, "track_conf": conf, "query_points": points, "query_frames": frames}
