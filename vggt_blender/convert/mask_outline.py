"""Loose outlines around rejected (moving) tracks, in Blender Mask coordinates. Pure numpy.

Plate pixels are continuous, origin top-left (``vggt_core.reconstruction``). Blender's Mask space for a
``W x H`` frame (checked by rasterising, ``tests/blender/test_mask_raster.py``): x = u / W spans the width, y
uses the same scale about the frame's centre and points up, y = 0.5 + (H / 2 - v) / W.
"""
from __future__ import annotations

import numpy as np


def to_mask_coords(uv: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[..., 2] plate pixels (u, v) of a ``size = (W, H)`` frame -> [..., 2] Mask coordinates (x, y)."""
    w, h = size
    uv = np.asarray(uv, np.float64)
    return np.stack([uv[..., 0] / w, 0.5 + (h / 2 - uv[..., 1]) / w], axis=-1)


def cluster_tracks(uv: np.ndarray, seen: np.ndarray, link_px: float) -> list[np.ndarray]:
    """Groups of tracks (columns of ``uv`` [S, N, 2] plate px, ``seen`` [S, N] bool) that move together: single
    linkage, two tracks join when on some frame both are seen within ``link_px`` pixels of each other. Returns
    the track columns of each group (sorted), largest group first; tracks never seen form no group."""
    n = uv.shape[1]
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for s in range(uv.shape[0]):
        cols = np.flatnonzero(seen[s])
        p = uv[s, cols]
        near = np.linalg.norm(p[:, None] - p[None], axis=-1) <= link_px
        for a, b in zip(*np.nonzero(np.triu(near, 1))):
            ra, rb = root(int(cols[a])), root(int(cols[b]))
            if ra != rb:
                parent[rb] = ra
    used = np.flatnonzero(seen.any(axis=0))
    roots = np.array([root(int(i)) for i in used], np.int64)
    groups = [used[roots == r] for r in np.unique(roots)]
    return sorted(groups, key=len, reverse=True)


def padded_box(uv: np.ndarray, margin_px: float, size: tuple[int, int]) -> np.ndarray:
    """[4, 2] plate-px corners (top-left, bottom-left, bottom-right, top-right) of the bounding box of ``uv``
    [M, 2] grown by ``margin_px``, clipped to the frame ``size = (W, H)`` grown by the margin (so an object at
    the edge stays covered to the border)."""
    lo = np.maximum(uv.min(axis=0) - margin_px, -margin_px)
    hi = np.minimum(uv.max(axis=0) + margin_px, np.asarray(size, np.float64) + margin_px)
    return np.array([[lo[0], lo[1]], [lo[0], hi[1]], [hi[0], hi[1]], [hi[0], lo[1]]])


def outlines(uv: np.ndarray, seen: np.ndarray, groups: list[np.ndarray], margin_px: float,
             size: tuple[int, int]) -> list[dict[int, np.ndarray]]:
    """Per group, {frame index s: [4, 2] Mask-coordinate corners of its padded box on s} for each frame where
    some of its tracks are seen (``uv`` [S, N, 2] plate px, ``seen`` [S, N])."""
    out = []
    for cols in groups:
        boxes = {}
        for s in range(uv.shape[0]):
            here = cols[seen[s, cols]]
            if len(here):
                boxes[s] = to_mask_coords(padded_box(uv[s, here], margin_px, size), size)
        out.append(boxes)
    return out
