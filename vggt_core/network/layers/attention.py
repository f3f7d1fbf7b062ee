"""Multi-head self-attention with optional per-head qk LayerNorm and 2D RoPE."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rope import RotaryPositionEmbedding2D


class Attention(nn.Module):
    """qkv projection -> (q_norm, k_norm) -> RoPE(q, k) -> scaled dot-product attention -> proj.

    qk_norm: LayerNorm over each head's features (affine, eps `norm_eps`), applied before RoPE.
    rope: shared RotaryPositionEmbedding2D or None (then `pos` is ignored).
    Attention is exact (PyTorch SDPA picks a fused flash/memory-efficient kernel where it can, so the
    [N, N] score matrix is never stored).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        qk_norm: bool = False,
        norm_eps: float = 1e-5,
        rope: RotaryPositionEmbedding2D | None = None,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.rope = rope

    def project(
        self, x: torch.Tensor, pos: torch.Tensor | None = None, max_position: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, n, dim] -> q, k, v [B, heads, n, head_dim] (normed and rotated); token-wise, so it
        can run on any slice of the sequence with the matching slice of `pos`."""
        B, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if self.rope is not None and pos is not None:
            q = self.rope(q, pos, max_position)
            k = self.rope(k, pos, max_position)
        return q, k, v

    def output(self, attended: torch.Tensor) -> torch.Tensor:
        """attended [B, heads, n, head_dim] (SDPA output, any token slice) -> [B, n, dim] projected."""
        B, _, n, _ = attended.shape
        return self.proj(attended.transpose(1, 2).reshape(B, n, self.num_heads * self.head_dim))

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None, max_position: int | None = None) -> torch.Tensor:
        """x [B, N, dim]; pos [B, N, 2] integer (y, x) positions for RoPE -> [B, N, dim]."""
        return self.output(F.scaled_dot_product_attention(*self.project(x, pos, max_position)))
