"""DINOv2 ViT with register tokens: the aggregator's per-frame patch encoder."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Block, PatchEmbed

BlockCallback = Callable[[], None]


class DinoVisionTransformer(nn.Module):
    """ViT-L/14 with 4 registers by default (LayerNorm eps 1e-6, LayerScale, no qk-norm, no RoPE).

    Token sequence: [cls, registers, patches]; the learned position embedding (trained for an
    img_size x img_size grid) covers cls and patches only and is resampled for other grids.
    """

    def __init__(
        self,
        img_size: int = 518,
        patch_size: int = 14,
        embed_dim: int = 1024,
        depth: int = 24,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        num_register_tokens: int = 4,
        init_values: float = 1.0,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.num_register_tokens = num_register_tokens
        grid = img_size // patch_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, embed_dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, num_register_tokens, embed_dim))
        # Unused at inference; kept because released checkpoints contain it.
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim), requires_grad=False)
        self.patch_embed = PatchEmbed(patch_size, 3, embed_dim)
        self.blocks = nn.ModuleList(
            [Block(embed_dim, num_heads, mlp_ratio, init_values=init_values, norm_eps=1e-6) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

    def position_embedding(self, h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
        """[1, 1 + h*w, dim] position embedding for an h x w patch grid.

        The stored square grid is used as is for the native square size; otherwise its patch part
        is resampled in float32 with antialiased bicubic interpolation to (h, w).
        """
        n_stored = self.pos_embed.shape[1] - 1
        if h * w == n_stored and h == w:
            return self.pos_embed.to(dtype)
        pe = self.pos_embed.float()
        m = int(round(n_stored**0.5))
        grid = pe[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", antialias=True)
        grid = grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)
        return torch.cat((pe[:, :1], grid), dim=1).to(dtype)

    def forward(self, images: torch.Tensor, callback: BlockCallback | None = None) -> torch.Tensor:
        """images [N, 3, H, W] (normalised) -> final-LayerNorm'ed patch tokens [N, (H/p)(W/p), dim].

        `callback()` is called after every block.
        """
        n, _, H, W = images.shape
        x = self.patch_embed(images)
        x = torch.cat((self.cls_token.expand(n, -1, -1).to(x.dtype), x), dim=1)
        x = x + self.position_embedding(H // self.patch_size, W // self.patch_size, x.dtype)
        x = torch.cat((x[:, :1], self.register_tokens.expand(n, -1, -1).to(x.dtype), x[:, 1:]), dim=1)
        for blk in self.blocks:
            x = blk(x)
            if callback is not None:
                callback()
        return self.norm(x)[:, 1 + self.num_register_tokens :]
