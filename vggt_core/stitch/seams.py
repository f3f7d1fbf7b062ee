"""Tracks that cross chunk seams: the chunks on either side of a seam track the same points from the same query
frame, and their two tracks of one point become one track of the shot.

Why: a chunk's track head tracks only that chunk's frames. With every chunk's tracks kept apart, one bundle
adjustment over the shot is tied across a seam only through the cameras of the shared frames, and each chunk's
cameras settle on their own scale and heading: on ``bench/bench_long.py``'s VGGT-like stand-in that adjustment was
worse than stitching alone (2.9 % of the path against 0.6 % at 160 frames), while the same queries tracked over
the whole shot gave 0.09 %.

* Query frames (``seam_query_frames``): a chunk queries the frames a single run of its length would
  (``solve.tracks.pick_query_frames``: its first frame among them), except that every other chunk's first frame
  that lies in it takes the place of the spread frame nearest it. So the two chunks of each seam query one shared
  frame, with the same grid (``grid_queries`` depends only on the frame's preprocessing and the count per frame),
  at no extra tracker cost.
* Merging (``track_groups``, ``combine``): tracks with the same query frame of the shot and the same query
  point are one point; the merged track holds the union of their observations. On a frame both chunks hold (the
  overlap), two copies that are both seen and agree within ``TIE_MODEL_PX`` are averaged; two that disagree are
  both dropped there (one chunk's tracker lost the point, and nothing here says which).

The merged tracks are the head's; with ``track_refine="plate"`` the solve then refines every observation of a
merged track on the plate from its one query frame (``solve.plate_tracks``), across the seam like anywhere else.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..solve.tracks import counted, pick_query_frames

VERSION = 1  # what the chunks track and how their tracks are merged; part of the network cache keys (run.pipeline)
TIE_MODEL_PX = 2.0  # two chunks' observations of one point on a shared frame agree within this (model px): the
# head's own error is about a model pixel, and the solve rejects an observation beyond 4
KEY_DECIMALS = 3  # query points are compared rounded to a thousandth of a model pixel (they are computed alike)


def seam_query_frames(plan: Sequence[Sequence[int]], positions: Sequence[int], frames: int) -> np.ndarray:
    """The query frames of the chunk holding shot ``positions`` (one of ``plan``'s chunks), as indices into
    ``positions`` [F] int64, ascending: ``pick_query_frames(len(positions), frames)``, each other chunk's first
    frame that lies in this chunk in place of the nearest spread frame other than the chunk's own first frame and
    other seam frames (added when none is left)."""
    starts = {int(c[0]) for c in plan} - {int(positions[0])}
    seams = [i for i, p in enumerate(positions) if int(p) in starts]
    picked = [int(f) for f in pick_query_frames(len(positions), frames)]
    for s in seams:
        if s in picked:
            continue
        free = [j for j, f in enumerate(picked) if f != 0 and f not in seams]
        if free:
            picked[min(free, key=lambda j: abs(picked[j] - s))] = s
        else:
            picked.append(s)
    return np.unique(np.asarray(picked, np.int64))


def track_groups(query_frames: Sequence[np.ndarray], query_points: Sequence[np.ndarray]) -> tuple[np.ndarray, int]:
    """Which merged track each chunk's track becomes: ``(column [sum N_k] int64, merged count M)``.

    query_frames[k]: chunk k's tracks' query frames as shot positions [N_k]; query_points[k]: their query points
    [N_k, 2] (model px). Tracks with the same frame and point (``KEY_DECIMALS``) share a column; columns are
    numbered in order of first appearance, so a shot with nothing to merge keeps every chunk's order.
    """
    frame = np.concatenate([np.asarray(f, np.int64) for f in query_frames])
    point = np.round(np.concatenate([np.asarray(p, np.float64) for p in query_points]), KEY_DECIMALS)
    keys = np.column_stack([frame.astype(np.float64), point])
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # unique keys in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)], len(order)


def combine(
    old: tuple[np.ndarray, np.ndarray, np.ndarray | None], new: tuple[np.ndarray, np.ndarray, np.ndarray | None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Two copies of the same observations (frames both chunks hold) as one: ``(uv [..., 2] model px, vis [...],
    conf [...] or None)`` each. Seen in one copy only: that copy. Seen in both and within ``TIE_MODEL_PX``: their
    mean, the higher visibility and confidence. Seen in both and farther apart: not seen (visibility 0). Seen in
    neither: the first copy."""
    (uv_a, vis_a, conf_a), (uv_b, vis_b, conf_b) = old, new
    a, b = counted(vis_a, conf_a), counted(vis_b, conf_b)
    agree = np.linalg.norm(uv_a - uv_b, axis=-1) <= TIE_MODEL_PX
    take_b = b & ~a
    both = a & b
    uv = np.where(take_b[..., None], uv_b, np.where((both & agree)[..., None], (uv_a + uv_b) / 2, uv_a))
    vis = np.where(take_b | both, np.maximum(vis_a, vis_b), vis_a)
    vis = np.where(both & ~agree, 0.0, vis)
    conf = None if conf_a is None or conf_b is None else np.where(take_b | both, np.maximum(conf_a, conf_b), conf_a)
    return uv.astype(uv_a.dtype), vis.astype(vis_a.dtype), None if conf is None else conf.astype(conf_a.dtype)
