"""A long shot run chunk by chunk: each chunk a plain network run, stored so an interrupted run resumes, then
stitched into one ``Reconstruction`` (``vggt_core.stitch``)."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..derived import derived_arrays
from ..errors import CacheError, Cancelled
from ..reconstruction import FrameInfo, PreprocessRecord, Reconstruction
from ..stitch import TRACK_FIELDS, World, stitch_chunk, stitch_tracks
from . import cache

Progress = Callable[[str, float], None]
# compute(positions, records, progress, cancel) -> that chunk's Reconstruction (a plain run on those frames)
Compute = Callable[[Sequence[int], Sequence[PreprocessRecord], Progress, Callable[[], bool] | None], Reconstruction]


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
    world = World(n, H, W)
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
