"""Bilinear sampling of feature maps at continuous pixel positions.

Coordinate convention (the tracker's, inherited from the original model): a point (x, y) addresses the
feature-map cell grid with cell *centres* at integer positions, i.e. (0, 0) is the centre of the top-left
cell and (W-1, H-1) the centre of the bottom-right one. This is exactly ``grid_sample`` with
``align_corners=True``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def bilinear_sample(fmap: torch.Tensor, points: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Sample ``fmap`` [B,C,H,W] at ``points`` [B,h,w,2] (x, y in cell units) -> [B,C,h,w].

    padding_mode: "border" (clamp to the edge cells) or "zeros" (outside samples read 0).
    """
    h, w = fmap.shape[-2:]
    # Map [0, size-1] onto [-1, 1]; max(.,1) keeps single-cell maps finite.
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=points.device, dtype=fmap.dtype)
    grid = points.to(fmap.dtype) * scale - 1.0
    return F.grid_sample(fmap, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def sample_at_points(fmap: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Per-point features with border padding: fmap [B,C,H,W], points [B,N,2] (x, y) -> [B,N,C]."""
    out = bilinear_sample(fmap, points[:, :, None, :], padding_mode="border")  # [B,C,N,1]
    return out[..., 0].transpose(1, 2)
