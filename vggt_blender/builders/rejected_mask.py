"""A Mask of our own around the tracks the solve rejected as moving, read from the import's red markers.

The markers (``markers.build_moving_markers``: tracks "NAME moving N" on the import's own plate clip) are what
the artist sees and may have deleted, so the mask follows them. A marker on clip frame f is shown at scene frame
``clip.frame_start + f - 1``: the plate's timeline frame, where the mask is keyed and later rasterised.
"""
from __future__ import annotations

import re

import bpy
import numpy as np

from ..convert.mask_outline import cluster_tracks, outlines
from .datablocks import IMPORT_KEY, import_id, seal_name

_MOVING = re.compile(r" moving \d+$")


def moving_observations(clip: bpy.types.MovieClip) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clip's rejected-track markers as ``(scene frames [S] int, uv [S, N, 2] plate px, seen [S, N])``,
    pixels continuous with origin top-left (muted markers are not observations)."""
    w, h = clip.size
    tracks = [t for t in clip.tracking.tracks if _MOVING.search(t.name)]
    obs = [(t_i, clip.frame_start + m.frame - 1, m.co[0] * w, (1.0 - m.co[1]) * h)
           for t_i, t in enumerate(tracks) for m in t.markers if not m.mute]
    frames = np.unique([o[1] for o in obs]).astype(np.int64)
    uv = np.zeros((len(frames), len(tracks), 2))
    seen = np.zeros((len(frames), len(tracks)), bool)
    for t_i, f, u, v in obs:
        s = int(np.searchsorted(frames, f))
        uv[s, t_i], seen[s, t_i] = (u, v), True
    return frames, uv, seen


def build_rejected_mask(col: bpy.types.Collection, clip: bpy.types.MovieClip, margin_px: float,
                        link_px: float) -> bpy.types.Mask | None:
    """A NEW Mask "<col name> moving", marked as the import ``col``'s (removed with it), with one animated
    four-point spline per group of rejected tracks (``cluster_tracks`` with ``link_px``): on each frame where
    the group is seen, its bounding box grown by ``margin_px`` plate pixels. None when ``clip`` has no
    rejected-track markers."""
    frames, uv, seen = moving_observations(clip)
    if not seen.any():
        return None
    size = tuple(int(x) for x in clip.size)
    boxes = outlines(uv, seen, cluster_tracks(uv, seen, link_px), margin_px, size)
    mask = bpy.data.masks.new(f"{col.name} moving")
    mask[IMPORT_KEY] = import_id(col)
    seal_name(mask)
    mask.frame_start, mask.frame_end = int(frames[0]), int(frames[-1])
    layer = mask.layers.new(name="moving")
    for g, per_frame in enumerate(boxes):
        spline = layer.splines.new()  # holds one point already
        spline.points.add(3)
        spline.use_cyclic = True
        for p in spline.points:
            p.handle_type = "VECTOR"  # a box, not a rounded blob
        for s, corners in per_frame.items():
            for i, (p, co) in enumerate(zip(spline.points, corners.tolist())):
                p.co = co
                mask.keyframe_insert(f'layers["{layer.name}"].splines[{g}].points[{i}].co', frame=int(frames[s]))
    return mask
