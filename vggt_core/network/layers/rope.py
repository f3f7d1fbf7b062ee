"""2D rotary position embedding (RoPE) for patch tokens on a (row, col) grid."""
from __future__ import annotations

import torch


class RotaryPositionEmbedding2D:
    """Rotates query/key features by integer 2D positions.

    The head dimension is split in two halves: the first is rotated by the row (y) position, the
    second by the column (x) position. Within a half of size d, feature pairs (j, j + d/2) rotate
    by angle p * base^(-2j/d) ("rotate-half" layout). cos/sin tables are cached per
    (table size, device, dtype). A plain object, not a module: it has no weights and is shared by
    all attention layers.
    """

    def __init__(self, frequency: float = 100.0) -> None:
        self.frequency = float(frequency)
        self._tables: dict[tuple[int, int, torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, dim: int, size: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin tables [size, dim] for positions 0..size-1 (computed in float32)."""
        key = (dim, size, device, dtype)
        if key not in self._tables:
            inv_freq = 1.0 / self.frequency ** (torch.arange(0, dim, 2, device=device).float() / dim)
            angles = torch.arange(size, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
            angles = torch.cat((angles, angles), dim=-1)
            self._tables[key] = (angles.cos().to(dtype), angles.sin().to(dtype))
        return self._tables[key]

    @staticmethod
    def _rotate_half(x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)

    def _rotate(self, x: torch.Tensor, pos: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        c = cos[pos][:, None]  # [B, 1, N, d]
        s = sin[pos][:, None]
        return x * c + self._rotate_half(x) * s

    def __call__(self, x: torch.Tensor, positions: torch.Tensor, max_position: int | None = None) -> torch.Tensor:
        """x [B, heads, N, D]; positions [B, N, 2] int64 (y, x) >= 0.

        max_position: largest value in `positions` (avoids a device sync when the caller knows it).
        """
        half = x.shape[-1] // 2
        if max_position is None:
            max_position = int(positions.max())
        cos, sin = self.tables(half, max_position + 1, x.device, x.dtype)
        y_part, x_part = x.split(half, dim=-1)
        return torch.cat(
            (self._rotate(y_part, positions[..., 0], cos, sin), self._rotate(x_part, positions[..., 1], cos, sin)), dim=-1
        )
