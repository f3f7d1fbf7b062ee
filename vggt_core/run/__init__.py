"""The run on top of the stages: the pipeline (frames -> network -> solve, with its two caches), long shots run
chunk by chunk, shot manifests (batch), and the options both command lines share. ``cache``, ``batch`` and
``cli_options`` are public as modules; other names load on first use."""
from __future__ import annotations

from .. import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".pipeline": ("DEFAULTS", "ReconstructSettings", "reconstruct", "reconstruct_frames", "check_frames", "cache_path",
                  "network_path", "needs_network", "load_cached"),
    ".cli": ("ProgressLog", "check_output_dir", "EXPORTS"),
    ".batch": ("find_shot", "keep_in_shot_folder", "load_manifest"),
    ".cli_options": ("JOB_OPTIONS", "parse_onto", "refuse"),
}, modules=("cache", "batch", "cli_options", "cli", "chunked", "solve_options"))
