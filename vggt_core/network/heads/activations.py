"""Output activations of the dense (DPT) heads.

Values and confidence share one channels-last map; the last channel is the confidence.
"""
from __future__ import annotations

import torch


def activate_values(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Map raw head outputs to values.

    "inv_log": sign(x) * (exp|x| - 1), the inverse of a log-compression (used for xyz points);
    "exp": exp(x) (strictly positive depth); "linear": unchanged.
    """
    if kind == "inv_log":
        return torch.sign(x) * torch.expm1(torch.abs(x))
    if kind == "exp":
        return torch.exp(x)
    if kind == "linear":
        return x
    raise ValueError(f"unknown activation {kind!r}")


def activate_confidence(c: torch.Tensor, kind: str) -> torch.Tensor:
    """Map a raw confidence channel to a confidence; "expp1": 1 + exp(c) (>= 1)."""
    if kind == "expp1":
        return 1.0 + torch.exp(c)
    if kind == "expp0":
        return torch.exp(c)
    if kind == "sigmoid":
        return torch.sigmoid(c)
    raise ValueError(f"unknown confidence activation {kind!r}")


def split_and_activate(out: torch.Tensor, activation: str, conf_activation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """out [N, C, H, W] -> (values [N, H, W, C-1], confidence [N, H, W])."""
    out = out.permute(0, 2, 3, 1)
    return activate_values(out[..., :-1], activation), activate_confidence(out[..., -1], conf_activation)
