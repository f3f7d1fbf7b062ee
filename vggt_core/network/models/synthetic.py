"""Deterministic synthetic weights for small VGGT configurations (tests and smoke runs).

A model initialised here predicts meaningless geometry, but every code path runs with realistic value
ranges: cameras with a finite field of view, non-trivial depth and confidence. It is what the test suite
and `examples/run_demo.py --tiny` use when no real checkpoint is at hand; it never stands in for one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def synthetic_init_(model: "nn.Module", seed: int = 0) -> "nn.Module":
    """Overwrite every parameter of a VGGT in place with seeded random values; returns the model.

    Plain default init leaves tokens and position embeddings at zero; these rules (normal 0.02, norm
    weights near 1, layer scales near 0.1, larger output convs) make every input matter. The camera
    head's field-of-view outputs get a positive bias (about 1.2 rad after the 4 refinement iterations)
    so that focal lengths are finite, as with the reference synthetic weights. The tracker's update
    head is kept small: with large random updates the iterative tracker is chaotic (float32 rounding
    noise grows ~100x per iteration), which would make exact comparisons meaningless.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=gen)
            if name.endswith("gamma"):
                p.copy_(0.1 * (1 + 0.1 * z))
            elif name.endswith("weight") and "norm" in name.rsplit(".", 2)[-2]:
                p.copy_(1 + 0.02 * z)
            elif name.endswith("flow_head.weight"):
                p.copy_(0.005 * z)
            elif name.endswith("output_conv2.2.weight"):
                p.copy_(0.5 * z)
            elif p.ndim >= 2 and "weight" in name:
                fan_in = p[0].numel()
                p.copy_(z / fan_in**0.5)
            else:
                p.copy_(0.005 * z)
            if name == "camera_head.pose_branch.fc2.weight":
                p[7:9] *= 0.1
            elif name == "camera_head.pose_branch.fc2.bias":
                p[7:9] += 0.3
    return model
