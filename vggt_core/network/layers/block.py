"""Pre-norm transformer block."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import Attention
from .layer_scale import LayerScale
from .mlp import Mlp
from .rope import RotaryPositionEmbedding2D

# Rows (batch x tokens) per slice for the token-wise parts of a block without autograd. It bounds
# the MLP's 4x-wide hidden activation (and the qkv / norm / RoPE temporaries) to this many rows
# whatever the number of frames: 16384 rows x 4096 x 2 bytes = 134 MB in bf16 at VGGT-1B width.
CHUNK_ROWS = 16384


def compute_dtype(device_type: str, default: torch.dtype) -> torch.dtype:
    """The autocast dtype when autocast is on for `device_type`, else `default`."""
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else default


class Block(nn.Module):
    """x = x + ls1(attn(norm1(x))); x = x + ls2(mlp(norm2(x))). LayerNorms use `norm_eps`.

    Without autograd (inference) the block runs lean with identical arithmetic: everything but the
    attention core runs on token slices of at most CHUNK_ROWS rows, q/k/v are gathered into one
    buffer each in the dtype SDPA computes in (the autocast dtype when autocast is on), and the
    residual updates are written in place into the block's output (never into its input).
    """

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
        """x [B, N, dim]; pos [B, N, 2] (only used with RoPE) -> [B, N, dim]."""
        if torch.is_grad_enabled():  # autograd cannot go through the in-place updates of the lean path
            x = x + self.ls1(self.attn(self.norm1(x), pos, max_position))
            return x + self.ls2(self.mlp(self.norm2(x)))
        return self._forward_lean(x, pos, max_position)

    def _forward_lean(self, x: torch.Tensor, pos: torch.Tensor | None, max_position: int | None) -> torch.Tensor:
        B, N, C = x.shape
        step = max(1, CHUNK_ROWS // B)
        spans = [(s, min(s + step, N)) for s in range(0, N, step)]
        qkv: list[torch.Tensor] = []
        for s, e in spans:
            parts = self.attn.project(self.norm1(x[:, s:e]), None if pos is None else pos[:, s:e], max_position)
            if not qkv:
                # The dtype SDPA would cast q, k, v to anyway: same rounding, half the buffer under bf16.
                dt = compute_dtype(x.device.type, parts[0].dtype)
                qkv = [torch.empty(B, t.shape[1], N, t.shape[3], dtype=dt, device=x.device) for t in parts]
            for buf, t in zip(qkv, parts):
                buf[:, :, s:e] = t
            del parts
        attended = F.scaled_dot_product_attention(*qkv)
        del qkv
        out: torch.Tensor | None = None
        for s, e in spans:
            update = self.ls1(self.attn.output(attended[:, :, s:e]))
            if out is None:
                out = torch.empty(B, N, C, dtype=torch.promote_types(x.dtype, update.dtype), device=x.device)
            torch.add(x[:, s:e], update, out=out[:, s:e])
        del attended
        assert out is not None
        for s, e in spans:
            rows = out[:, s:e]
            rows += self.ls2(self.mlp(self.norm2(rows)))
        return out
