"""Pre-norm transformer block."""
from __future__ import annotations

import torch
from torch import nn

from .attention import Attention
from .layer_scale import LayerScale
from .mlp import Mlp
from .rope import RotaryPositionEmbedding2D


class Block(nn.Module):
    """x = x + ls1(attn(norm1(x))); x = x + ls2(mlp(norm2(x))). LayerNorms use `norm_eps`."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        ffn_bias: bool = True,
        init_values: float = 0.01,
        qk_norm: bool = False,
        norm_eps: float = 1e-5,
        rope: RotaryPositionEmbedding2D | None = None,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, proj_bias, qk_norm, norm_eps, rope)
        self.ls1 = LayerScale(dim, init_values)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), bias=ffn_bias)
        self.ls2 = LayerScale(dim, init_values)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None, max_position: int | None = None) -> torch.Tensor:
        """x [B, N, dim]; pos [B, N, 2] (only used with RoPE)."""
        x = x + self.ls1(self.attn(self.norm1(x), pos, max_position))
        return x + self.ls2(self.mlp(self.norm2(x)))
