"""Sinusoidal embeddings used by the tracker: flow embedding and a 2D sin/cos position embedding."""
from __future__ import annotations

import torch

from .sampling import sample_at_points


def flow_embedding(flows: torch.Tensor, dim_per_axis: int) -> torch.Tensor:
    """Embed displacements flows [..., 2] (x, y, feature-map cells) -> [..., 2*dim_per_axis].

    Computed in at least float32 (the high frequencies make half precision meaningless).

    Per axis: interleaved [sin(f_k v), cos(f_k v)] with *linear* frequencies f_k = 2k * 1000 / dim_per_axis,
    k = 0 .. dim_per_axis/2 - 1 (not the usual geometric ladder); x block first, then y.
    """
    dtype = torch.promote_types(flows.dtype, torch.float32)
    freqs = torch.arange(0, dim_per_axis, 2, device=flows.device, dtype=dtype) * (1000.0 / dim_per_axis)
    parts = []
    for axis in range(2):
        angles = flows[..., axis : axis + 1].to(dtype) * freqs  # [..., dim/2]
        parts.append(torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(-2))
    return torch.cat(parts, dim=-1)


def sincos_table_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """[len(positions), dim] float64: [sin(p w_k)]_k ++ [cos(p w_k)]_k, w_k = 10000^(-k/(dim/2))."""
    omega = 1.0 / 10000.0 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    angles = positions.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sample_sincos_pos_embed_2d(dim: int, height: int, width: int, points: torch.Tensor) -> torch.Tensor:
    """2D sin/cos position embedding of a height x width cell grid, read at points [B,N,2] -> [B,N,dim].

    The table holds, at integer cell (x, y), ``sincos_table_1d(dim/2, x) ++ sincos_table_1d(dim/2, y)``
    (float64, cast to float32); points (x, y in cells) read it bilinearly with border clamping, as the
    original model does. The table is separable (x half depends on x only, y half on y only), so the 2D
    read reduces to 1D linear interpolation per half, avoiding the dim x H x W table (100 MB at 518 px).
    ``dim`` must be divisible by 4.
    """
    ex, ey = (t.to(points.device) for t in _axis_tables(dim, height, width))
    b = points.shape[0]
    zeros = torch.zeros_like(points[..., :1])
    fx = sample_at_points(ex.expand(b, -1, -1, -1), torch.cat([points[..., :1], zeros], dim=-1))
    fy = sample_at_points(ey.expand(b, -1, -1, -1), torch.cat([points[..., 1:], zeros], dim=-1))
    return torch.cat([fx, fy], dim=-1)


def _axis_tables(dim: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """1-row maps [1, dim/2, 1, width] (x) and [1, dim/2, 1, height] (y), float32 on the CPU."""
    if dim % 4:
        raise ValueError(f"sincos position embedding needs dim divisible by 4, got {dim}")
    ex = sincos_table_1d(dim // 2, torch.arange(width)).float()  # [W, dim/2]
    ey = sincos_table_1d(dim // 2, torch.arange(height)).float()  # [H, dim/2]
    return ex.t()[None, :, None, :], ey.t()[None, :, None, :]
