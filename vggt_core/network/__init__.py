"""The network: VGGT (``layers/``, ``heads/``, ``models/``), its weights (download, strict loading, checkpoints)
and the ``Engine`` that runs it (device, precision, memory, progress and cancel). Names load on first use: torch
is imported only by what needs it."""
from __future__ import annotations

from .. import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".engine": ("Engine", "DeviceError", "pick_device", "pick_dtype", "precision_context", "cast_matmul_weights_",
                "estimate_max_frames", "available_memory"),
    ".weights": ("load_model", "save_checkpoint", "download_from_hub", "resolve_source", "is_local_source", "locate",
                 "load_state_dict_from", "model_from_state_dict", "normalize_state_dict"),
    ".models.vggt": ("VGGT", "VGGTConfig"),
    ".models.synthetic": ("synthetic_init_",),
}, modules=("layers", "heads", "models"))
