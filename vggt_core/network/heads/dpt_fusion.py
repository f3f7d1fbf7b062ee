"""DPT fusion blocks (RefineNet style) used by DPTHead's `scratch` decoder."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualConvUnit(nn.Module):
    """relu(x) + conv2(relu(conv1(relu(x)))).

    The released model shared one in-place ReLU, which overwrote the unit's input, so the skip
    connection adds relu(x) rather than x; reproduced here explicitly.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return x + self.conv2(F.relu(self.conv1(x)))


class FeatureFusionBlock(nn.Module):
    """out_conv(resize(RCU2(x0 [+ RCU1(x1)]))), resize = bilinear, align_corners=True.

    `has_residual=False` (deepest level) has no second input and no `resConfUnit1`.
    """

    def __init__(self, features: int, has_residual: bool = True) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1, bias=True)
        if has_residual:
            self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor | None = None, size: tuple[int, int] | None = None) -> torch.Tensor:
        """size: output (h, w); None doubles the input size."""
        out = x0
        if x1 is not None:
            out = out + self.resConfUnit1(x1)
        out = self.resConfUnit2(out)
        if size is None:
            size = (out.shape[-2] * 2, out.shape[-1] * 2)
        out = F.interpolate(out, size=tuple(size), mode="bilinear", align_corners=True)
        return self.out_conv(out)


class DPTDecoder(nn.Module):
    """The `scratch` module: per-level 3x3 convs to `features`, four fusion blocks, output_conv1
    (and output_conv2 for prediction heads)."""

    def __init__(self, in_channels: tuple[int, ...], features: int, output_dim: int | None) -> None:
        super().__init__()
        for i, c in enumerate(in_channels, start=1):
            setattr(self, f"layer{i}_rn", nn.Conv2d(c, features, 3, padding=1, bias=False))
        self.refinenet1 = FeatureFusionBlock(features)
        self.refinenet2 = FeatureFusionBlock(features)
        self.refinenet3 = FeatureFusionBlock(features)
        self.refinenet4 = FeatureFusionBlock(features, has_residual=False)
        if output_dim is None:  # feature extractor: keep all channels
            self.output_conv1 = nn.Conv2d(features, features, 3, padding=1)
        else:
            self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
            self.output_conv2 = nn.Sequential(
                nn.Conv2d(features // 2, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, output_dim, 1)
            )

    def fuse(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """levels: 4 maps from fine to coarse -> output_conv1 of the fused map (2x the finest level)."""
        l1, l2, l3, l4 = (getattr(self, f"layer{i}_rn")(x) for i, x in enumerate(levels, start=1))
        out = self.refinenet4(l4, size=l3.shape[-2:])
        out = self.refinenet3(out, l3, size=l2.shape[-2:])
        out = self.refinenet2(out, l2, size=l1.shape[-2:])
        out = self.refinenet1(out, l1)
        return self.output_conv1(out)
