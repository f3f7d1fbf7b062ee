"""vggt_core: pure-PyTorch VGGT plus frames, preprocessing, geometry, cache and exports.

Importing this package does not import torch; `VGGT` is resolved lazily on first access.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["VGGT", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "VGGT":
        from .network.models.vggt import VGGT

        return VGGT
    raise AttributeError(f"module 'vggt_core' has no attribute {name!r}")
