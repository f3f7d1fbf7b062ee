"""Query points for the VGGT track head, and its tracks turned into observations in original pixels."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..preprocess import pixels_to_original
from ..reconstruction import PreprocessRecord, Reconstruction

TRACK_FRAMES = 4  # default number of query frames (``pick_query_frames``): a handful, as the original demo uses


def grid_queries(record: PreprocessRecord, count: int) -> np.ndarray:
    """About ``count`` query points ``[N, 2]`` (x, y) in model pixels on a regular grid over the part of the
    model canvas that shows ``record``'s frame (never in padding), at cell centres."""
    x0, y0 = max(record.offset[0], 0), max(record.offset[1], 0)
    wm, hm = record.model_size
    x1 = min(record.offset[0] + record.resized_size[0], wm)
    y1 = min(record.offset[1] + record.resized_size[1], hm)
    w, h = x1 - x0, y1 - y0
    step = max(np.sqrt(w * h / max(count, 1)), 1.0)
    nx, ny = max(int(round(w / step)), 1), max(int(round(h / step)), 1)
    xs = x0 + (np.arange(nx) + 0.5) * w / nx
    ys = y0 + (np.arange(ny) + 0.5) * h / ny
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def pick_query_frames(frames: int, count: int) -> np.ndarray:
    """The frames to query tracks on: ``count`` frames spread evenly from the first to the last (rounded,
    duplicates dropped), so frame 0 is always one and points that leave frame 0's view are still tracked."""
    return np.unique(np.rint(np.linspace(0, frames - 1, max(min(count, frames), 1))).astype(np.int64))


def track_queries(records: Sequence[PreprocessRecord], count: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """About ``count`` query points in all, split evenly over ``frames`` query frames (``pick_query_frames``):
    ``(points [N, 2] model pixels, frame index [N] int64)``, a ``grid_queries`` grid on each query frame."""
    picked = pick_query_frames(len(records), frames)
    grids = [grid_queries(records[k], count // len(picked)) for k in picked]
    return np.concatenate(grids), np.repeat(picked, [len(g) for g in grids])


def observations(recon: Reconstruction, min_vis: float = 0.5, min_conf: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """The track head's tracks as ``(uv [S, N, 2] float64 original pixels, seen [S, N] bool)``.

    An observation counts when its visibility is at least ``min_vis``, its confidence (when predicted) at least
    ``min_conf``, and it lands inside its frame. A query's own frame (``recon.query_frames``, else frame 0)
    always sees it.
    """
    if recon.tracks is None:
        raise ValueError("the reconstruction has no tracks (run with query points)")
    uv = np.stack([pixels_to_original(t.astype(np.float64), r) for t, r in zip(recon.tracks, recon.preprocess)])
    seen = recon.track_vis >= min_vis
    if recon.track_conf is not None:
        seen &= recon.track_conf >= min_conf
    sizes = np.array([(f.width, f.height) for f in recon.frames], dtype=np.float64)[:, None, :]
    seen &= np.all((uv >= 0) & (uv <= sizes), axis=2)
    seen[query_frames(recon), np.arange(seen.shape[1])] = True
    return uv, seen


def query_frames(recon: Reconstruction) -> np.ndarray:
    """The frame index ``[N]`` each track was queried on (frame 0 for reconstructions without ``query_frames``)."""
    if recon.query_frames is not None:
        return recon.query_frames.astype(np.int64)
    return np.zeros(recon.tracks.shape[1], np.int64)
