"""DPT head: dense per-pixel predictions (depth, points) or features from aggregator tokens."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .activations import split_and_activate
from .dpt_fusion import DPTDecoder
from .pos_embed import add_uv_embedding_

ChunkCallback = Callable[[int, int], None]


class DPTHead(nn.Module):
    """Dense Prediction Transformer head over four aggregator layers.

    Reads the patch tokens of `intermediate_layer_idx` layers, projects each to a feature pyramid
    (x4, x2, x1, x1/2 of the patch grid), fuses it coarse-to-fine and upsamples to the image size
    divided by `down_ratio`. Frames are independent, so they are processed in chunks.

    Output (feature_only=False): values [B, S, H, W, output_dim-1] with `activation` and a
    confidence [B, S, H, W] with `conf_activation`. Output (feature_only=True): features
    [B, S, features, H/down_ratio, W/down_ratio].
    """

    def __init__(
        self,
        dim_in: int,
        patch_size: int = 14,
        output_dim: int = 4,
        activation: str = "inv_log",
        conf_activation: str = "expp1",
        features: int = 256,
        out_channels: Sequence[int] = (256, 512, 1024, 1024),
        intermediate_layer_idx: Sequence[int] = (4, 11, 17, 23),
        pos_embed: bool = True,
        feature_only: bool = False,
        down_ratio: int = 1,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.activation = activation
        self.conf_activation = conf_activation
        self.pos_embed = pos_embed
        self.feature_only = feature_only
        self.down_ratio = down_ratio
        self.intermediate_layer_idx = tuple(int(i) for i in intermediate_layer_idx)
        oc = tuple(int(c) for c in out_channels)

        self.norm = nn.LayerNorm(dim_in)
        self.projects = nn.ModuleList([nn.Conv2d(dim_in, c, 1) for c in oc])
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = DPTDecoder(oc, features, None if feature_only else output_dim)

    def forward(
        self,
        aggregated_tokens_list: Sequence[torch.Tensor | None],
        images: torch.Tensor,
        patch_start_idx: int,
        frames_chunk_size: int | None = 8,
        callback: ChunkCallback | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """aggregated_tokens_list[i]: [B, S, P_total, dim_in] for every i in intermediate_layer_idx;
        images [B, S, 3, H, W] (only the shape is used); patch tokens start at `patch_start_idx`.
        `callback(done, total)` is called after each chunk of frames."""
        B, S = images.shape[:2]
        step = S if not frames_chunk_size or frames_chunk_size >= S else int(frames_chunk_size)
        starts = list(range(0, S, step))
        outs: list[torch.Tensor | tuple[torch.Tensor, torch.Tensor]] = []
        for n, s0 in enumerate(starts, start=1):
            outs.append(self._forward_frames(aggregated_tokens_list, images, patch_start_idx, s0, min(S, s0 + step)))
            if callback is not None:
                callback(n, len(starts))
        if self.feature_only:
            return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        if len(outs) == 1:
            return outs[0]
        return torch.cat([o[0] for o in outs], dim=1), torch.cat([o[1] for o in outs], dim=1)

    def _forward_frames(
        self,
        tokens_list: Sequence[torch.Tensor | None],
        images: torch.Tensor,
        patch_start_idx: int,
        s0: int,
        s1: int,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        B = images.shape[0]
        S = s1 - s0
        H, W = images.shape[-2:]
        h, w = H // self.patch_size, W // self.patch_size

        levels = []
        for i, layer in enumerate(self.intermediate_layer_idx):
            tokens = tokens_list[layer]
            if tokens is None:
                raise ValueError(f"DPTHead needs aggregator layer {layer}, which was not kept")
            x = tokens[:, s0:s1, patch_start_idx:].reshape(B * S, h * w, -1)
            x = self.norm(x.to(self.norm.weight.dtype))  # kept layers may be bf16
            x = x.permute(0, 2, 1).reshape(B * S, x.shape[-1], h, w)
            x = self.projects[i](x)
            if self.pos_embed:
                x = add_uv_embedding_(x, W, H)  # x is this head's own conv output
            levels.append(self.resize_layers[i](x))

        out = self.scratch.fuse(levels)
        del levels
        size = (int(h * self.patch_size / self.down_ratio), int(w * self.patch_size / self.down_ratio))
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=True)
        if self.pos_embed:
            out = add_uv_embedding_(out, W, H)
        if self.feature_only:
            return out.reshape(B, S, *out.shape[1:])
        out = self.scratch.output_conv2(out)
        values, conf = split_and_activate(out, self.activation, self.conf_activation)
        return values.reshape(B, S, *values.shape[1:]), conf.reshape(B, S, *conf.shape[1:])
