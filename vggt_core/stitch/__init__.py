"""Long shots (the stitch stage): overlapping chunks, each a normal VGGT run, brought into one world by robust Sim(3) fits.

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

Tracks (``refine="ba"``): every chunk queries its own tracks (query frames spread over the chunk, one of them on
each seam: ``seam_query_frames``); the stitched result carries all of them on the shot's frames, a point both
chunks of a seam tracked from the seam's query frame as one track across it (``stitch_tracks``, ``seams``), so one
bundle adjustment sees every camera, and tracks, not only the shared cameras, tie the chunks together.
"""
from __future__ import annotations

from .align import Sim3Fit, World, align, fit_sim3, transform, umeyama
from .merge import TRACK_FIELDS, stitch_chunk, stitch_tracks
from .seams import VERSION as TRACKS_VERSION, seam_query_frames
from .plan import DEFAULT_STRATEGY, STRATEGIES, auto_chunk_size, auto_overlap, frames_for_memory, plan_chunks

__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "TRACKS_VERSION", "TRACK_FIELDS", "Sim3Fit", "World", "align",
           "auto_chunk_size", "auto_overlap", "fit_sim3", "frames_for_memory", "plan_chunks", "seam_query_frames",
           "stitch_chunk", "stitch_tracks", "transform", "umeyama"]
