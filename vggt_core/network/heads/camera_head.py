"""Camera head: iterative refinement of a 9-d pose encoding per frame from the camera tokens."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Block, Mlp

IterationCallback = Callable[[int, int], None]


def activate_pose(raw: torch.Tensor) -> torch.Tensor:
    """raw [..., 9] -> [translation (linear), quaternion XYZW (linear), relu(fov_h, fov_w)]."""
    return torch.cat((raw[..., :7], F.relu(raw[..., 7:])), dim=-1)


class CameraHead(nn.Module):
    """Predicts the "absT_quaR_FoV" pose encoding [B, S, 9] for every frame.

    Encoding: [0:3] translation of the camera-from-world extrinsic (OpenCV axes), [3:7] rotation
    quaternion XYZW (not normalised), [7] vertical and [8] horizontal field of view (radians).
    Each iteration modulates the (fixed) normalised camera tokens with an embedding of the current
    raw estimate (adaLN), runs a transformer trunk that attends across the S frames and adds a
    predicted delta to the raw estimate.
    """

    def __init__(
        self,
        dim_in: int = 2048,
        trunk_depth: int = 4,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        init_values: float = 0.01,
        target_dim: int = 9,
    ) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            *[Block(dim_in, num_heads, mlp_ratio, init_values=init_values) for _ in range(trunk_depth)]
        )
        self.token_norm = nn.LayerNorm(dim_in)
        self.trunk_norm = nn.LayerNorm(dim_in)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, target_dim))
        self.embed_pose = nn.Linear(target_dim, dim_in)
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim_in, 3 * dim_in))
        self.adaln_norm = nn.LayerNorm(dim_in, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(dim_in, dim_in // 2, target_dim)

    def forward(
        self,
        aggregated_tokens_list: Sequence[torch.Tensor | None],
        num_iterations: int = 4,
        callback: IterationCallback | None = None,
    ) -> list[torch.Tensor]:
        """Reads the camera token (index 0) of the last layer [B, S, P_total, dim_in].

        Returns `num_iterations` activated encodings [B, S, 9], the last one being the final
        estimate. `callback(done, total)` is called after each iteration.
        """
        tokens = aggregated_tokens_list[-1]
        if tokens is None:
            raise ValueError("CameraHead needs the last aggregator layer, which was not kept")
        pose_tokens = self.token_norm(tokens[:, :, 0].to(self.token_norm.weight.dtype))  # kept layers may be bf16
        normed = self.adaln_norm(pose_tokens)
        B, S, _ = pose_tokens.shape
        raw: torch.Tensor | None = None
        outputs = []
        for it in range(num_iterations):
            cond = self.empty_pose_tokens.expand(B, S, -1) if raw is None else raw.detach()
            shift, scale, gate = self.poseLN_modulation(self.embed_pose(cond)).chunk(3, dim=-1)
            x = gate * (normed * (1 + scale) + shift) + pose_tokens
            delta = self.pose_branch(self.trunk_norm(self.trunk(x)))
            raw = delta if raw is None else raw + delta
            outputs.append(activate_pose(raw))
            if callback is not None:
                callback(it + 1, num_iterations)
        return outputs
