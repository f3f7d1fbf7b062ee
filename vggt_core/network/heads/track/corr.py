"""Multi-scale local correlation between track features and frame feature maps (RAFT-style).

For each pyramid level l the correlation map is corr(p) = <track_feat, fmap_l(p)> / sqrt(C), read with
bilinear interpolation (zeros outside) on a (2r+1)^2 window centred on coords / 2^l.

Because bilinear interpolation is linear, interpolating the correlation map equals correlating with the
interpolated features. We therefore sample only the window features and take dot products, instead of
materialising the full [S, N, H*W] correlation volume (which is gigabytes at 518 px with many queries).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .sampling import bilinear_sample


def window_offsets(radius: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Offsets [(2r+1)^2, 2] (dx, dy) in window order.

    The original model's window is indexed [i][j] -> (x + o_i, y + o_j): x varies along the *first*
    (slow) window axis. Kept for weight compatibility (corr_mlp's input order depends on it).
    """
    o = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    dx, dy = torch.meshgrid(o, o, indexing="ij")
    return torch.stack([dx, dy], dim=-1).reshape(-1, 2)


class CorrPyramid:
    """Feature pyramid of fmaps [B,S,C,H,W]; level k+1 = 2x2 average pool (floor) of level k."""

    def __init__(self, fmaps: torch.Tensor, num_levels: int, radius: int) -> None:
        self.radius = radius
        self.levels = [fmaps]
        for _ in range(num_levels - 1):
            b, s, c, h, w = self.levels[-1].shape
            pooled = F.avg_pool2d(self.levels[-1].reshape(b * s, c, h, w), kernel_size=2, stride=2)
            self.levels.append(pooled.reshape(b, s, c, *pooled.shape[-2:]))

    def sample(self, track_feats: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Correlation windows for every track in every frame.

        track_feats [B,S,N,C]; coords [B,S,N,2] (x, y) in level-0 cells -> [B,S,N,levels*(2r+1)^2],
        level-major, each window flattened in ``window_offsets`` order.
        """
        b, s, n, c = track_feats.shape
        offsets = window_offsets(self.radius, coords.device, coords.dtype)  # [K,2]
        k = offsets.shape[0]
        out = []
        for lvl, fmap in enumerate(self.levels):
            h, w = fmap.shape[-2:]
            centres = coords.reshape(b * s, n, 1, 2) / (2**lvl)
            # Zero padding: window cells off the map contribute no correlation.
            feats = bilinear_sample(fmap.reshape(b * s, c, h, w), centres + offsets, padding_mode="zeros")
            feats = feats.reshape(b, s, c, n, k)
            corr = torch.einsum("bsnc,bscnk->bsnk", track_feats, feats) / math.sqrt(c)
            out.append(corr)
        return torch.cat(out, dim=-1)
