"""EfficientUpdateFormer: alternating time / space attention over track tokens.

Space attention is routed through a small set of learned *virtual tracks*: virtual tokens read all
point tokens, attend among themselves, and points read back from them, so the cost is linear in the
number of queries N instead of quadratic.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import CrossAttnBlock, SelfAttnBlock


class EfficientUpdateFormer(nn.Module):
    """Maps tokens [B, N, S, input_dim] to per-track, per-frame updates [B, N, S, output_dim]."""

    def __init__(
        self,
        input_dim: int = 388,
        hidden_size: int = 384,
        output_dim: int = 130,
        depth: int = 6,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        num_virtual_tracks: int = 64,
    ) -> None:
        super().__init__()
        self.num_virtual_tracks = num_virtual_tracks
        self.input_norm = nn.LayerNorm(input_dim)
        self.input_transform = nn.Linear(input_dim, hidden_size)
        self.output_norm = nn.LayerNorm(hidden_size)
        self.flow_head = nn.Linear(hidden_size, output_dim)
        # Attribute name spelled as in the released checkpoint.
        self.virual_tracks = nn.Parameter(torch.randn(1, num_virtual_tracks, 1, hidden_size).mul_(0.02))  # in place: see model_from_state_dict
        self.time_blocks = nn.ModuleList(SelfAttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth))
        self.space_virtual_blocks = nn.ModuleList(
            SelfAttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)
        )
        self.space_point2virtual_blocks = nn.ModuleList(
            CrossAttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)
        )
        self.space_virtual2point_blocks = nn.ModuleList(
            CrossAttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, s, _ = x.shape
        tokens = self.input_transform(self.input_norm(x))
        skip = tokens
        virtual = self.virual_tracks.expand(b, -1, s, -1).to(tokens.dtype)
        tokens = torch.cat([tokens, virtual], dim=1)  # [B, N+V, S, D]
        total = tokens.shape[1]
        for time_blk, v2p, v_self, p2v in zip(
            self.time_blocks,
            self.space_virtual2point_blocks,
            self.space_virtual_blocks,
            self.space_point2virtual_blocks,
        ):
            # Time: each track (real or virtual) attends over its S frames.
            tokens = time_blk(tokens.reshape(b * total, s, -1)).reshape(b, total, s, -1)
            # Space: per frame, points <-> virtual tracks.
            space = tokens.permute(0, 2, 1, 3).reshape(b * s, total, -1)
            points, virt = space[:, :n], space[:, n:]
            virt = v_self(v2p(virt, points))
            points = p2v(points, virt)
            tokens = torch.cat([points, virt], dim=1).reshape(b, s, total, -1).permute(0, 2, 1, 3)
        tokens = tokens[:, :n] + skip
        return self.flow_head(self.output_norm(tokens))
