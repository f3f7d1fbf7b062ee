"""Long shots cut into overlapping chunks: which frames each network run holds, and how many fit in memory.

See ``vggt_core.stitch`` for how the chunks are brought into one world.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

STRATEGIES = ("chained", "anchored")
DEFAULT_STRATEGY = "chained"  # the better one on bench/bench_long.py (docs/matchmove.md)
ANCHORS = 3  # at most this many anchor frames per chunk in the "anchored" strategy (one per 8 frames)


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

    From the memory the engine's device can still allocate (``engine.available_memory``: free GPU memory on CUDA,
    Metal's working set on MPS, ``MemAvailable`` on a Linux CPU), with the model loaded; no automatic chunking
    where that cannot be told. Engines that are not ``vggt_core.network.engine.Engine`` (test stand-ins) never
    chunk automatically.
    """
    from ..network.engine import Engine, available_memory

    if not isinstance(engine, Engine):
        return 0
    import torch

    model = engine.load()
    free = available_memory(engine.device)
    if free is None:
        return 0
    value_bytes = 4 if engine.dtype == torch.float32 else 2
    fits = frames_for_memory(free, H, W, model.config.embed_dim, len(model.needed_layers(False)), value_bytes,
                             engine.dense_chunk)
    if n <= fits:
        return 0
    return max(8, fits)
