"""Query points for the VGGT track head, and its tracks turned into observations in original pixels.

Every coordinate here is continuous (``vggt_core.reconstruction``): pixel ``(i, j)`` of the model canvas or of
the plate has its centre at ``(i + 0.5, j + 0.5)``, the same convention as the depth points, COLMAP and Blender's
markers. Only ``Engine.predict`` sees the track head's integer centres (``engine.TRACK_HEAD_SHIFT``)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..plate.preprocess import pixels_to_model, pixels_to_original
from ..reconstruction import PreprocessRecord, Reconstruction

TRACK_FRAMES = 4  # default number of query frames (``pick_query_frames``): a handful, as the original demo uses
MIN_VIS = 0.5  # the head's visibility and confidence from which an observation counts (``head_observations``)
MIN_CONF = 0.2


def grid_queries(record: PreprocessRecord, count: int) -> np.ndarray:
    """About ``count`` query points ``[N, 2]`` (x, y) in model pixels on a regular grid over the part of the
    model canvas that shows ``record``'s frame (never in padding), at cell centres (continuous model pixels,
    centres at ``i + 0.5``; the engine shifts them to the track head's convention)."""
    (x0, y0), (x1, y1) = shown(record)
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


def track_queries(records: Sequence[PreprocessRecord], count: int, frames: int,
                  picked: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """About ``count`` query points in all, split evenly over ``frames`` query frames (``pick_query_frames``):
    ``(points [N, 2] model pixels, frame index [N] int64)``, a ``grid_queries`` grid on each query frame.
    picked: other query frames (indices into ``records``; a chunk's, ``stitch.seam_query_frames``), each with the
    grid the spread frames would have, so two runs of one length query a frame they share alike."""
    spread = pick_query_frames(len(records), frames)
    picked = spread if picked is None else np.asarray(picked, np.int64)
    grids = [grid_queries(records[k], count // len(spread)) for k in picked]
    return np.concatenate(grids), np.repeat(picked, [len(g) for g in grids])


def observations(recon: Reconstruction, min_vis: float = MIN_VIS, min_conf: float = MIN_CONF) -> tuple[np.ndarray, np.ndarray]:
    """The solve's observations, ``(uv [S, N, 2] float64 original pixels, seen [S, N] bool)``: the tracks refined
    on the plate (``recon.tracks_plate``, ``plate_tracks.refine_tracks``) when the reconstruction has them, else
    the track head's own (``head_observations``, with ``min_vis`` and ``min_conf``)."""
    if recon.tracks_plate is not None:
        return recon.tracks_plate.astype(np.float64), recon.tracks_plate_vis.astype(bool)
    return head_observations(recon, min_vis, min_conf)


def counted(vis: np.ndarray, conf: np.ndarray | None, min_vis: float = MIN_VIS, min_conf: float = MIN_CONF
            ) -> np.ndarray:
    """Which of the head's observations count (bool, the shape of ``vis``): visibility at least ``min_vis`` and,
    where predicted, confidence at least ``min_conf``."""
    ok = vis >= min_vis
    return ok if conf is None else ok & (conf >= min_conf)


def head_observations(recon: Reconstruction, min_vis: float = MIN_VIS,
                      min_conf: float = MIN_CONF) -> tuple[np.ndarray, np.ndarray]:
    """The track head's tracks as ``(uv [S, N, 2] float64 original pixels, seen [S, N] bool)``.

    Pixels are continuous on both sides (centre of pixel ``(i, j)`` at ``(i + 0.5, j + 0.5)``, the
    ``Reconstruction`` convention; the engine already moved the head's integer centres there), so the mapping
    to the plate is the exact affine ``pixels_to_original``. An observation counts when its visibility is at
    least ``min_vis``, its confidence (when predicted) at least ``min_conf``, and it lands inside the part of
    the model canvas that shows its frame: in crop mode the rows cropped away were never seen by the network,
    so a track there is an extrapolation; padding is not the frame either. A query's own frame
    (``recon.query_frames``, else frame 0) always sees it.
    """
    if recon.tracks is None:
        raise ValueError("the reconstruction has no tracks (run with query points)")
    uv = np.stack([pixels_to_original(t.astype(np.float64), r) for t, r in zip(recon.tracks, recon.preprocess)])
    seen = counted(recon.track_vis, recon.track_conf, min_vis, min_conf)
    lo, hi = np.array([shown(r) for r in recon.preprocess]).transpose(1, 0, 2)[:, :, None, :]
    seen &= np.all((recon.tracks >= lo) & (recon.tracks <= hi), axis=2)
    seen[query_frames(recon), np.arange(seen.shape[1])] = True
    return uv, seen


def plate_px_per_model_px(recon: Reconstruction) -> np.ndarray:
    """``[S]`` original pixels per model pixel of each frame (the horizontal resize; square pixels): what turns
    a tolerance in model pixels, the track head's own unit, into plate pixels."""
    return np.array([1.0 / r.scale[0] for r in recon.preprocess], np.float64)


def observed_depth(recon: Reconstruction, seen: np.ndarray) -> np.ndarray:
    """``[S, N]`` VGGT's depth (its world units) at each observation in ``seen`` ``[S, N]``: the depth map's value
    in the model pixel the track lies in on that frame (``model_tracks``: continuous model pixels, so pixel
    ``floor(x)``); NaN where not seen or where the pixel is not the frame's (``recon.valid``)."""
    hm, wm = recon.depth.shape[1:]
    tracks = model_tracks(recon)
    x = np.clip(np.floor(tracks[..., 0]).astype(np.int64), 0, wm - 1)
    y = np.clip(np.floor(tracks[..., 1]).astype(np.int64), 0, hm - 1)
    frame = np.arange(len(x))[:, None]
    ok = seen & recon.valid[frame, y, x]
    return np.where(ok, recon.depth[frame, y, x].astype(np.float64), np.nan)


def model_tracks(recon: Reconstruction) -> np.ndarray:
    """``[S, N, 2]`` the tracks in continuous model pixels: the plate-refined ones (``recon.tracks_plate``)
    mapped onto the canvas when present, else the head's."""
    if recon.tracks_plate is None:
        return recon.tracks
    return np.stack([pixels_to_model(t, r) for t, r in zip(recon.tracks_plate, recon.preprocess)])


def shown(record: PreprocessRecord) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((x0, y0), (x1, y1))``: the model-pixel box (continuous, edges) that shows ``record``'s frame."""
    (ox, oy), (rw, rh), (wm, hm) = record.offset, record.resized_size, record.model_size
    return (max(ox, 0), max(oy, 0)), (min(ox + rw, wm), min(oy + rh, hm))


def query_frames(recon: Reconstruction) -> np.ndarray:
    """The frame index ``[N]`` each track was queried on (frame 0 for reconstructions without ``query_frames``)."""
    if recon.query_frames is not None:
        return recon.query_frames.astype(np.int64)
    return np.zeros(recon.tracks.shape[1], np.int64)
