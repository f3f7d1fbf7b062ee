"""Alternating-attention aggregator: DINOv2 patch tokens refined by frame-wise and global attention."""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from ..layers import Block, RotaryPositionEmbedding2D
from ..layers.block import compute_dtype
from .dinov2 import DinoVisionTransformer

# ImageNet normalisation used by the DINOv2 backbone.
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

ProgressCallback = Callable[[int, int], None]


class Aggregator(nn.Module):
    """Images [B, S, 3, H, W] in [0, 1] -> per-layer tokens [B, S, 5+P, 2*embed_dim].

    Each frame's sequence is [camera token, register tokens, P patch tokens]. The first frame of a
    sequence uses learned special tokens of index 0, all other frames index 1. Each of `depth`
    iterations runs one frame-attention block (tokens of one frame) and one global-attention block
    (all frames jointly); layer i's output is the channel concatenation of both blocks' outputs.
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
        dino_depth: int = 24,
        dino_num_heads: int = 16,
        rope_freq: float = 100.0,
        init_values: float = 0.01,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.depth = depth
        self.patch_start_idx = 1 + num_register_tokens
        self.rope = RotaryPositionEmbedding2D(rope_freq)
        self.patch_embed = DinoVisionTransformer(
            img_size, patch_size, embed_dim, dino_depth, dino_num_heads, mlp_ratio, num_register_tokens
        )

        def make_block() -> Block:
            return Block(embed_dim, num_heads, mlp_ratio, init_values=init_values, qk_norm=True, rope=self.rope)

        self.frame_blocks = nn.ModuleList([make_block() for _ in range(depth)])
        self.global_blocks = nn.ModuleList([make_block() for _ in range(depth)])
        self.camera_token = nn.Parameter(torch.zeros(1, 2, 1, embed_dim))
        self.register_token = nn.Parameter(torch.zeros(1, 2, num_register_tokens, embed_dim))

    def _num_callbacks(self) -> int:
        return len(self.patch_embed.blocks) + 2 * self.depth

    @staticmethod
    def _special_tokens(token: torch.Tensor, B: int, S: int, dtype: torch.dtype) -> torch.Tensor:
        """token [1, 2, X, C] -> [B*S, X, C]: index 0 for frame 0, index 1 for the others."""
        first = token[:, :1].expand(B, 1, -1, -1)
        rest = token[:, 1:].expand(B, S - 1, -1, -1)
        return torch.cat((first, rest), dim=1).reshape(B * S, *token.shape[2:]).to(dtype)

    def _positions(self, n: int, h: int, w: int, device: torch.device) -> torch.Tensor:
        """[n, 5+P, 2] int64 (y, x): patches at (row+1, col+1) row-major, special tokens at (0, 0)."""
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        grid = torch.stack((ys, xs), dim=-1).reshape(h * w, 2) + 1
        special = torch.zeros(self.patch_start_idx, 2, dtype=grid.dtype, device=device)
        return torch.cat((special, grid), dim=0)[None].expand(n, -1, -1)

    def forward(
        self,
        images: torch.Tensor,
        keep_layers: Iterable[int] | None = None,
        callback: ProgressCallback | None = None,
    ) -> tuple[list[torch.Tensor | None], int]:
        """images [B, S, 3, H, W] in [0, 1], H and W multiples of patch_size.

        keep_layers: layer indices whose outputs are returned (None: all). Other entries of the
        returned list are None, so memory holds only what the heads read. Under autocast the kept
        outputs are stored in the autocast dtype (half the memory; the heads upcast per chunk).
        callback(done, total): called after every DINO, frame and global block.
        Returns (tokens_list of length `depth`, patch_start_idx).
        """
        B, S, _, H, W = images.shape
        keep = set(range(self.depth)) if keep_layers is None else {i % self.depth for i in keep_layers}
        total = self._num_callbacks()
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            if callback is not None:
                callback(done, total)

        mean = torch.tensor(_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        x = (images.reshape(B * S, 3, H, W) - mean) / std
        patches = self.patch_embed(x, tick)
        del x
        h, w = H // self.patch_size, W // self.patch_size
        tokens = torch.cat(
            (
                self._special_tokens(self.camera_token, B, S, patches.dtype),
                self._special_tokens(self.register_token, B, S, patches.dtype),
                patches,
            ),
            dim=1,
        )
        del patches
        n_tok, C = tokens.shape[1], tokens.shape[2]
        pos = self._positions(B * S, h, w, images.device)
        pos_global = pos.reshape(B, S * n_tok, 2)
        max_pos = max(h, w)
        keep_dtype = compute_dtype(images.device.type, tokens.dtype)

        outputs: list[torch.Tensor | None] = [None] * self.depth
        for i in range(self.depth):
            tokens = self.frame_blocks[i](tokens.reshape(B * S, n_tok, C), pos, max_pos)
            frame_out = tokens.reshape(B, S, n_tok, C).to(keep_dtype) if i in keep else None
            tick()
            tokens = self.global_blocks[i](tokens.reshape(B, S * n_tok, C), pos_global, max_pos)
            if frame_out is not None:
                outputs[i] = torch.cat((frame_out, tokens.reshape(B, S, n_tok, C).to(keep_dtype)), dim=-1)
            del frame_out
            tick()
        return outputs, self.patch_start_idx
