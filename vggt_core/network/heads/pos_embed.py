"""Sinusoidal UV position embedding added to DPT feature maps.

The grid spans the image's aspect-ratio-normalised extent (unit diagonal), so maps of any size of
the same image get consistent coordinates.
"""
from __future__ import annotations

import torch


def uv_grid(width: int, height: int, aspect_ratio: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Cell coordinates of a width x height map -> [height, width, 2] (u, v).

    The full map covers [-span_x, span_x] x [-span_y, span_y] with span = (a, 1) / sqrt(a^2 + 1);
    coordinates are cell positions inset by (n-1)/n of the span (linspace, float `dtype`).
    """
    diag = (aspect_ratio**2 + 1.0) ** 0.5
    span_x, span_y = aspect_ratio / diag, 1.0 / diag
    ex = span_x * (width - 1) / width
    ey = span_y * (height - 1) / height
    xs = torch.linspace(-ex, ex, steps=width, dtype=dtype, device=device)
    ys = torch.linspace(-ey, ey, steps=height, dtype=dtype, device=device)
    vv, uu = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((uu, vv), dim=-1)


def sincos_1d(pos: torch.Tensor, dim: int, omega_0: float = 100.0) -> torch.Tensor:
    """pos [M] -> [M, dim] = [sin(p*w_k)]_k ++ [cos(p*w_k)]_k with w_k = omega_0^(-k/(dim/2)).

    Evaluated in float64 (MPS lacks it, so float32 there) and returned as float32; the float64
    product matters for parity with the released model.
    """
    wide = torch.float32 if pos.device.type == "mps" else torch.float64
    k = torch.arange(dim // 2, dtype=wide, device=pos.device) / (dim / 2.0)
    omega = 1.0 / omega_0**k
    angles = pos.reshape(-1, 1).to(wide) * omega[None, :]
    return torch.cat((torch.sin(angles), torch.cos(angles)), dim=1).float()


def uv_embedding(width: int, height: int, channels: int, aspect_ratio: float, device: torch.device) -> torch.Tensor:
    """[channels, height, width] float32 embedding: first half from u (x), second half from v (y)."""
    grid = uv_grid(width, height, aspect_ratio, torch.float32, device).reshape(-1, 2)
    emb = torch.cat((sincos_1d(grid[:, 0], channels // 2), sincos_1d(grid[:, 1], channels // 2)), dim=-1)
    return emb.reshape(height, width, channels).permute(2, 0, 1)


def add_uv_embedding_(x: torch.Tensor, image_w: int, image_h: int, ratio: float = 0.1) -> torch.Tensor:
    """x [N, C, h, w] += ratio * uv_embedding for an image of image_w x image_h pixels; returns x.

    In place (same values as `x + ...`): at full resolution x is ~137 MB per 518x518 frame, and an
    out-of-place sum would hold two copies of it per chunk of frames.
    """
    emb = uv_embedding(x.shape[-1], x.shape[-2], x.shape[1], image_w / image_h, x.device).mul_(ratio)
    return x.add_(emb.to(x.dtype)[None])
