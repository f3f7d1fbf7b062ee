"""Long shots: overlapping chunks, each a normal VGGT run, brought into one world by robust Sim(3) fits.

A shot of S frames is cut into chunks of ``chunk_size`` frames that share ``overlap`` frames with the chunk
before (``plan_chunks``). Every chunk is reconstructed on its own (its own normalised world: its first camera,
its own scale), then mapped into the first chunk's world by the similarity ``X_world = s * Q @ X_chunk + u``
fitted on the frames it shares with what is already placed (``fit_sim3``: depth points of the shared frames,
pixel for pixel, weighted by confidence, with iteratively reweighted least squares and trimming against
outliers). Strategies:

* ``"chained"``: chunks share only their overlap with the previous chunk; errors add up chunk after chunk.
* ``"anchored"``: every chunk also holds the same few *anchor* frames spread across the whole shot (the first
  chunk holds them all), so each chunk is also fitted against frames placed without the chain in between.

``bench/bench_long.py`` compares both on a ground-truth shot. The fit uses the shared frames' cameras as well
as their depth, unprojected with one lens (``align``); the frames two chunks share are blended from one to the
other across the overlap (``stitch_chunk``), so cameras do not jump at seams. Per-chunk raw
results go to the cache folder as ordinary cache entries (keyed like a plain run on the chunk's frames), so a
run stopped at chunk k (cancelled, killed, out of memory) resumes from chunk k; they are deleted once the
stitched result is stored.

Tracks (``refine="ba"``): every chunk queries its own tracks (query frames spread over the chunk); the stitched
result carries all of them on the shot's frames (``stitch_tracks``), so one bundle adjustment sees every camera
and chunks are tied together through the frames they share.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..run import cache
from .. import geometry
from ..derived import derived_arrays
from ..errors import CacheError, Cancelled, InputError
from ..reconstruction import FrameInfo, PreprocessRecord, Reconstruction

STRATEGIES = ("chained", "anchored")
DEFAULT_STRATEGY = "chained"  # the better one on bench/bench_long.py (see README)
ANCHORS = 3  # at most this many anchor frames per chunk in the "anchored" strategy (one per 8 frames)
TRACK_FIELDS = ("tracks", "track_vis", "track_conf", "query_points", "query_frames")  # see Reconstruction
POINTS_PER_FRAME = 4096  # depth pixels per shared frame used by the fit (a regular subsample)

Progress = Callable[[str, float], None]
# compute(positions, records, progress, cancel) -> that chunk's Reconstruction (a plain run on those frames)
Compute = Callable[[Sequence[int], Sequence[PreprocessRecord], Progress, Callable[[], bool] | None], Reconstruction]


def plan_chunks(n: int, chunk_size: int, overlap: int, strategy: str = DEFAULT_STRATEGY,
                anchors: int | None = None) -> list[list[int]]:
    """Frame positions (0..n-1) of each chunk, in the order the chunk feeds them to the network.

    chunk_size <= 0 or >= n: one chunk holding every frame, in order (the plain single run).
    Otherwise consecutive windows of ``chunk_size`` frames (``chunk_size - anchors`` for "anchored"), each
    starting ``window - overlap`` after the previous; the last window is moved back to end at the last frame,
    so it is never shorter than the others (it then shares more than ``overlap`` frames). "anchored" appends
    to each window the anchor frames (``anchors`` positions evenly spread over the shot; by default one per
    8 frames of chunk, 1 to ANCHORS) it lacks, so every chunk holds at most ``chunk_size`` frames.
    Raises InputError (one line) for impossible combinations.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"unknown chunk strategy {strategy!r} (use {' or '.join(STRATEGIES)})")
    if chunk_size <= 0 or chunk_size >= n:
        return [list(range(n))]
    if anchors is None:
        anchors = max(1, min(ANCHORS, chunk_size // 8))
    extra = anchors if strategy == "anchored" else 0
    window = chunk_size - extra
    if overlap < 1:
        raise InputError("--overlap must be at least 1 frame when a shot is split into chunks")
    if overlap >= window:
        what = f"chunk size minus {extra} anchor frames" if extra else "the chunk size"
        raise InputError(f"--overlap ({overlap}) must be smaller than {what} ({window})")
    step = window - overlap
    starts = list(range(0, n - window, step)) + [n - window]
    anchor_set = sorted({round(x) for x in np.linspace(0, n - 1, extra)}) if extra else []
    chunks = []
    for start in starts:
        frames = list(range(start, start + window))
        chunks.append(frames + [a for a in anchor_set if not start <= a < start + window])
    return chunks


def add_arguments(parser: Any) -> None:
    """The long-shot options of both command lines (``vggt-reconstruct``, ``blender -b -c vggt``)."""
    g = parser.add_argument_group("long shots")
    g.add_argument("--chunk-size", type=int, default=0, metavar="N",
                   help="frames per network run; longer shots run in overlapping chunks aligned into one world, "
                   "resuming from the chunk an interrupted run stopped in (default 0: automatic, from free GPU "
                   "memory or RAM)")
    g.add_argument("--overlap", type=int, default=0, metavar="M",
                   help="frames each chunk shares with the previous one (default 0: automatic, a third of the "
                   "chunk, 2-16)")
    g.add_argument("--chunk-strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY,
                   help=f"how chunks are tied together (default {DEFAULT_STRATEGY}; see README)")


def settings_fields(args: Any) -> dict[str, Any]:
    """``ReconstructSettings`` keyword arguments from the options of ``add_arguments``."""
    return {"chunk_size": args.chunk_size, "overlap": args.overlap, "strategy": args.chunk_strategy}


def auto_overlap(chunk_size: int) -> int:
    """Overlap used when none is given: a third of the chunk, 2 to 16 frames (bench/bench_long.py: scale
    drift over 240 frames in chunks of 32 stays under 1 % with 12 shared frames, not always with 8)."""
    return max(2, min(16, chunk_size // 3))


def frames_for_memory(free_bytes: float, H: int, W: int, embed_dim: int = 1024, kept_layers: int = 4,
                      value_bytes: int = 2, dense_chunk: int = 8) -> int:
    """Frames of H x W model pixels one run can hold in ``free_bytes`` (weights already resident), with a
    20 % margin on the engine's own estimate (``engine.estimate_max_frames``)."""
    from ..network.engine import estimate_max_frames

    return estimate_max_frames(int(0.8 * free_bytes), H, W, embed_dim, kept_layers, value_bytes, dense_chunk)


def auto_chunk_size(engine: Any, n: int, H: int, W: int) -> int:
    """The chunk size chosen when the user gives none: 0 (one run) when all ``n`` frames fit in memory.

    On CUDA from the free GPU memory, on the CPU from the available RAM (Linux ``/proc`` figures; elsewhere
    no automatic chunking), with the model loaded. Engines that are not ``vggt_core.network.engine.Engine`` (test
    stand-ins) never chunk automatically.
    """
    from ..network.engine import Engine

    if not isinstance(engine, Engine):
        return 0
    import torch

    device, model = engine.device, engine.load()
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    elif device.type == "cpu" and hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    else:
        return 0
    value_bytes = 4 if engine.dtype == torch.float32 else 2
    fits = frames_for_memory(free, H, W, model.config.embed_dim, len(model.needed_layers(False)), value_bytes,
                             engine.dense_chunk)
    if n <= fits:
        return 0
    return max(8, fits)


@dataclass
class Sim3Fit:
    """``X_world = scale * rotation @ X_chunk + translation``, and how well it fits.

    residual_median / residual_p90: point distances after the fit, relative to the point's depth.
    inliers: fraction of points kept by the last reweighting; points: how many were used.
    """

    scale: float
    rotation: np.ndarray
    translation: np.ndarray
    residual_median: float
    residual_p90: float
    inliers: float
    points: int

    @property
    def matrix(self) -> np.ndarray:
        """4x4 world-from-chunk matrix (scale folded into the upper 3x3)."""
        m = np.eye(4)
        m[:3, :3] = self.scale * self.rotation
        m[:3, 3] = self.translation
        return m

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ (self.scale * self.rotation).T + self.translation


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted least-squares similarity (Umeyama 1991): minimises sum w |s R src + t - dst|^2.

    src, dst: [N, 3]; weights: [N] >= 0, not all zero. Returns (s, R [3,3] proper rotation, t [3]).
    """
    w = weights / weights.sum()
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    U, D, Vt = np.linalg.svd(cov)
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(U) * np.linalg.det(Vt)) or 1.0])
    R = U @ flip @ Vt
    s = float(np.trace(np.diag(D) @ flip) / (w @ (xs * xs).sum(1)))
    return s, R, mu_d - s * R @ mu_s


def fit_sim3(src: np.ndarray, dst: np.ndarray, conf: np.ndarray, depth: np.ndarray, iters: int = 12) -> Sim3Fit:
    """Robust confidence-weighted Sim(3) taking ``src`` onto ``dst`` ([N, 3] corresponding points).

    conf: [N] confidence weights (> 0); depth: [N] a length scale per point (its depth in the reference
    view), so residuals are relative and far points are not all outliers. IRLS with Huber weights at
    2 robust sigmas, points beyond 3 Huber widths dropped (trimmed); the sigma is the median absolute
    relative residual (x 1.4826), re-estimated every iteration.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    conf, depth = np.asarray(conf, np.float64), np.maximum(np.asarray(depth, np.float64), 1e-12)
    robust = np.ones(len(src))
    for _ in range(iters):
        s, R, t = umeyama(src, dst, conf * robust)
        r = np.linalg.norm(src @ (s * R).T + t - dst, axis=1) / depth
        width = 2.0 * max(1.4826 * float(np.median(r)), 1e-9)
        robust = np.minimum(1.0, width / np.maximum(r, 1e-30))
        robust[r > 3 * width] = 0.0
    kept = robust > 0
    return Sim3Fit(s, R, t, float(np.median(r)), float(np.percentile(r, 90)), float(kept.mean()), len(src))


def transform(fit: Sim3Fit, extrinsics: np.ndarray, depth: np.ndarray,
              world_points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One chunk's camera-from-chunk extrinsics [S,3,4], depth [S,H,W] and world points [S,H,W,3] in the
    world of ``fit`` (float32): cameras keep their orientation relative to the scene, depths scale by s."""
    R, t = extrinsics[..., :3].astype(np.float64), extrinsics[..., 3].astype(np.float64)
    QT = fit.rotation.T
    R_new = R @ QT
    t_new = fit.scale * t - np.einsum("sij,j->si", R_new, fit.translation)
    ext = np.concatenate([R_new, t_new[..., None]], axis=-1).astype(np.float32)
    return ext, (depth * fit.scale).astype(np.float32), fit.apply(world_points.astype(np.float64)).astype(np.float32)


def _samples(H: int, W: int, mask: np.ndarray) -> np.ndarray:
    """Flat indices of a regular subsample of about POINTS_PER_FRAME pixels of an H x W frame, inside mask."""
    step = max(1, int(math.sqrt(H * W / POINTS_PER_FRAME)))
    grid = np.zeros((H, W), bool)
    grid[step // 2::step, step // 2::step] = True
    return np.flatnonzero(grid & mask)


class _World:
    """The stitched arrays, filled chunk by chunk (one entry per frame of the shot).

    windowed[p]: frame p was placed from a chunk's own window (its consecutive frames), not as an anchor.
    """

    def __init__(self, n: int, H: int, W: int) -> None:
        self.placed = np.zeros(n, bool)
        self.windowed = np.zeros(n, bool)
        self.extrinsics = np.zeros((n, 3, 4), np.float32)
        self.intrinsics = np.zeros((n, 3, 3), np.float32)
        self.intrinsics_model = np.zeros((n, 3, 3), np.float32)
        self.depth = np.zeros((n, H, W), np.float32)
        self.depth_conf = np.zeros((n, H, W), np.float32)
        self.world_points = np.zeros((n, H, W, 3), np.float32)
        self.world_points_conf = np.zeros((n, H, W), np.float32)
        self.colors = np.zeros((n, H, W, 3), np.uint8)


def _unproject(depth: np.ndarray, extrinsics: np.ndarray, k: np.ndarray) -> np.ndarray:
    """One frame's depth [H, W] through camera-from-world ``extrinsics`` [3,4] and model-pixel ``k`` [3,3]: world
    points [H*W, 3] at pixel centres."""
    points = geometry.unproject_depth_map_to_point_map(depth[None], extrinsics[None], k[None], pixel_offset=0.5)
    return points.reshape(-1, 3)


def _camera_points(extrinsics: np.ndarray, length: float) -> np.ndarray:
    """A camera's centre and the ends of its three axes, ``length`` long, in its world: [4, 3]."""
    R, t = extrinsics[:, :3].astype(np.float64), extrinsics[:, 3].astype(np.float64)
    return (np.vstack([np.zeros(3), length * np.eye(3)]) - t) @ R


def align(world: _World, positions: Sequence[int], chunk: Reconstruction) -> Sim3Fit:
    """The Sim(3) taking ``chunk`` (frames ``positions`` of the shot) into ``world``, fitted on its frames
    already placed; identity for the first chunk.

    Per shared frame, both copies' depths are unprojected with one lens (the geometric mean of the two predicted
    focals): unprojected with different focals, the two point sets differ by a stretch across the view that no
    similarity absorbs. The frame's camera (its centre and axis ends at the frame's median depth) joins the
    points with as much weight as all of them, so the fit also lines up the overlap's cameras.
    """
    shared = [(i, p) for i, p in enumerate(positions) if world.placed[p]]
    if not shared:
        return Sim3Fit(1.0, np.eye(3), np.zeros(3), 0.0, 0.0, 1.0, 0)
    H, W = chunk.model_size
    src, dst, conf, depth = [], [], [], []
    for i, p in shared:
        keep = chunk.valid[i] & (world.depth[p] > 0) & (chunk.depth[i] > 0)
        idx = _samples(H, W, keep.reshape(H, W))
        if len(idx) == 0:
            continue
        k = chunk.intrinsics_model[i].astype(np.float64)
        k[:2, :2] *= np.sqrt(world.intrinsics_model[p, 0, 0] / k[0, 0])  # geometric-mean focal
        src.append(_unproject(chunk.depth[i], chunk.extrinsics[i], k)[idx])
        dst.append(_unproject(world.depth[p], world.extrinsics[p], k)[idx])
        c = np.minimum(chunk.depth_conf[i].reshape(-1)[idx], world.depth_conf[p].reshape(-1)[idx])
        conf.append(c)
        d = world.depth[p].reshape(-1)[idx]
        depth.append(d)
        median_chunk, median_world = float(np.median(chunk.depth[i].reshape(-1)[idx])), float(np.median(d))
        src.append(_camera_points(chunk.extrinsics[i], median_chunk))
        dst.append(_camera_points(world.extrinsics[p], median_world))
        conf.append(np.full(4, c.sum() / 4))
        depth.append(np.full(4, median_world))
    if not src or sum(len(x) for x in src) < 3 + 4 * len(shared):
        raise InputError("chunks share no usable depth; use a larger --overlap")
    return fit_sim3(np.concatenate(src), np.concatenate(dst), np.concatenate(conf), np.concatenate(depth))


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


def stitch_chunk(world: _World, positions: Sequence[int], chunk: Reconstruction) -> dict[str, Any]:
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
            c = (1 - w) * _camera_points(world.extrinsics[p], 0.0)[0] + w * _camera_points(ext[i], 0.0)[0]
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
    """Every chunk's tracks on the shot's ``n`` frames: the ``Reconstruction`` track fields, or {} when no chunk
    has tracks.

    pieces: (frame positions, the chunk's ``TRACK_FIELDS``) per chunk with tracks. Chunk k's N_k tracks become N_k
    columns: its rows go to its frames' positions (model pixels carry over: every chunk uses the shot's
    preprocessing), every other frame gets uv 0 and visibility/confidence 0 (not seen); its query frames
    become shot positions. Memory: tracks [n, N, 2] float32 plus track_vis and track_conf [n, N] float32 for
    N = sum N_k (about 1024 per chunk, ``solve.TRACK_QUERIES``), i.e. 16 * n * N bytes: 240 frames in 12
    chunks, ~47 MB; 1000 frames in 48 chunks, ~790 MB.
    """
    if not pieces:
        return {}
    total = sum(c["tracks"].shape[1] for _, c in pieces)
    tracks = np.zeros((n, total, 2), np.float32)
    vis = np.zeros((n, total), np.float32)
    conf = np.zeros((n, total), np.float32) if all(c["track_conf"] is not None for _, c in pieces) else None
    query_points, query_frames = [], []
    col = 0
    for positions, c in pieces:
        pos, m = np.asarray(positions), c["tracks"].shape[1]
        tracks[pos, col:col + m] = c["tracks"]
        vis[pos, col:col + m] = c["track_vis"]
        if conf is not None:
            conf[pos, col:col + m] = c["track_conf"]
        local = c["query_frames"] if c["query_frames"] is not None else np.zeros(m, np.int64)
        query_frames.append(pos[local])
        query_points.append(c["tracks"][local, np.arange(m)] if c["query_points"] is None else c["query_points"])
        col += m
    return {"tracks": tracks, "track_vis": vis, "track_conf": conf,
            "query_points": np.concatenate(query_points).astype(np.float32),
            "query_frames": np.concatenate(query_frames).astype(np.int32)}


def reconstruct_chunked(
    infos: Sequence[FrameInfo],
    records: Sequence[PreprocessRecord],
    chunks: Sequence[Sequence[int]],
    compute: Compute,
    chunk_cache: Callable[[Sequence[int]], Path | None] | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Reconstruction:
    """Run and stitch ``chunks`` (from ``plan_chunks``) of the frames ``infos`` into one Reconstruction.

    compute: runs one chunk (decoding only its frames). chunk_cache(positions): where that chunk's raw result
    is stored (None: not stored); existing files are loaded instead of recomputed, which is how an
    interrupted run resumes. progress gets ``("resuming from chunk k/n", 0)`` once when chunks were found,
    then ``("chunk k/n: STAGE", fraction)`` for every stage of every chunk computed.
    The result's ``chunks`` lists, per chunk, its frames, Sim(3) (``sim3``, 4x4 world-from-chunk) and fit
    residuals; ``settings``/``model_id`` come from the first chunk; tracks, when the chunks have them, are
    every chunk's (``stitch_tracks``).
    """
    report = progress or (lambda stage, fraction: None)
    n, total = len(infos), len(chunks)
    paths = [chunk_cache(c) if chunk_cache is not None else None for c in chunks]
    done = 0
    while done < total and paths[done] is not None and paths[done].is_file():
        done += 1
    if 0 < done < total:
        report(f"resuming from chunk {done + 1}/{total}", 0.0)
    H, W = records[0].model_size[1], records[0].model_size[0]
    world = _World(n, H, W)
    log: list[dict[str, Any]] = []
    timings: dict[str, float] = {"stitch": 0.0}
    model_id, settings = "", {}
    tracked: list[tuple[Sequence[int], dict[str, np.ndarray | None]]] = []
    for k, positions in enumerate(chunks):
        if cancel is not None and cancel():
            raise Cancelled("reconstruction cancelled")
        chunk = _load(paths[k])
        if chunk is None:
            label = f"chunk {k + 1}/{total}"
            chunk = compute(positions, [records[p] for p in positions],
                            lambda stage, f, label=label: report(f"{label}: {stage}", f), cancel)
            if paths[k] is not None:
                cache.save(chunk, paths[k])
        for name, seconds in chunk.timings.items():
            timings[name] = timings.get(name, 0.0) + seconds
        t0 = time.perf_counter()
        log.append(stitch_chunk(world, positions, chunk))
        timings["stitch"] += time.perf_counter() - t0
        if k == 0:
            model_id, settings = chunk.model_id, dict(chunk.settings)
        if chunk.tracks is not None:  # keep only the (small) track fields
            tracked.append((positions, {f: getattr(chunk, f) for f in TRACK_FIELDS}))
        del chunk  # one chunk's dense arrays at a time
    assert world.placed.all()
    derived = derived_arrays(world.depth, world.extrinsics, world.intrinsics_model, records)
    return Reconstruction(
        frames=list(infos), preprocess=list(records), extrinsics=world.extrinsics, intrinsics=world.intrinsics,
        intrinsics_model=world.intrinsics_model, depth=world.depth, depth_conf=world.depth_conf,
        world_points=world.world_points, world_points_conf=world.world_points_conf, colors=world.colors,
        **derived, model_id=model_id, settings=settings, timings=timings, chunks=log,
        **stitch_tracks(n, tracked),
    )


def remove_chunk_files(chunks: Sequence[Sequence[int]], chunk_cache: Callable[[Sequence[int]], Path | None]) -> None:
    """Delete the per-chunk files of a finished run (its stitched result is stored by then)."""
    for positions in chunks:
        path = chunk_cache(positions)
        if path is not None:
            path.unlink(missing_ok=True)


def _load(path: Path | None) -> Reconstruction | None:
    if path is None or not path.is_file():
        return None
    try:
        return cache.load(path)
    except CacheError:  # unreadable (files are written atomically, so not a half-written one): recompute
        return None
