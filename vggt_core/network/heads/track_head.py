"""VGGT track head: dense DPT features at 1/stride resolution + an iterative point tracker."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .dpt_head import DPTHead
from .track import BaseTrackerPredictor


class TrackHead(nn.Module):
    """Tracks query points (on frame 0, or on given query frames) through all frames of a sequence.

    Defaults reproduce VGGT-1B (state-dict prefix ``track_head.``). The update-former and correlation
    settings, the DPT channel widths and the aggregator layers read (``intermediate_layer_idx``) are
    exposed so that small test configurations can be built.
    """

    def __init__(
        self,
        dim_in: int = 2048,
        patch_size: int = 14,
        features: int = 128,
        iters: int = 4,
        predict_conf: bool = True,
        stride: int = 2,
        corr_levels: int = 7,
        corr_radius: int = 4,
        hidden_size: int = 384,
        depth: int = 6,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        num_virtual_tracks: int = 64,
        max_scale: float = 518.0,
        out_channels: Sequence[int] = (256, 512, 1024, 1024),
        intermediate_layer_idx: Sequence[int] = (4, 11, 17, 23),
    ) -> None:
        super().__init__()
        self.iters = iters
        # Feature maps at input resolution / stride, so tracker cells and pixels stay consistent.
        self.feature_extractor = DPTHead(
            dim_in,
            patch_size,
            features=features,
            out_channels=tuple(out_channels),
            intermediate_layer_idx=tuple(intermediate_layer_idx),
            feature_only=True,
            down_ratio=stride,
            pos_embed=False,
        )
        self.tracker = BaseTrackerPredictor(
            stride=stride,
            corr_levels=corr_levels,
            corr_radius=corr_radius,
            latent_dim=features,
            hidden_size=hidden_size,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            num_virtual_tracks=num_virtual_tracks,
            max_scale=max_scale,
            predict_conf=predict_conf,
        )

    def forward(
        self,
        aggregated_tokens_list: Sequence[torch.Tensor | None],
        images: torch.Tensor,
        patch_start_idx: int,
        query_points: torch.Tensor,
        iters: int | None = None,
        query_frames: torch.Tensor | None = None,
        callback: Callable[[int, int], None] | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Track ``query_points``.

        Args:
            aggregated_tokens_list: aggregator outputs indexed by layer, each [B,S,P_total,dim_in]
                (only the DPT's ``intermediate_layer_idx`` entries are read; others may be None).
            images: [B,S,3,H,W] input images in [0,1] (only the size is used).
            patch_start_idx: index of the first patch token in each frame's token sequence.
            query_points: [B,N,2] (x, y) in input pixels on frame 0, or on ``query_frames``.
            iters: refinement iterations (default ``self.iters``).
            query_frames: optional [N] int frame index of each query (default: all on frame 0). The feature
                maps are computed once; each query frame k is tracked with frames 0 and k swapped (so k is the
                tracker's reference frame, as the original demo reorders its images) and swapped back.
            callback(done, total): called after each query frame's tracking.

        With every query on frame 0 this is one tracker run on the frames in their order, as released.

        Returns:
            coord_preds: list of [B,S,N,2] (x, y) input-pixel tracks, one per iteration (last = final);
            vis [B,S,N] and conf [B,S,N] in (0, 1) (conf is None when built with predict_conf=False).
        """
        fmaps = self.feature_extractor(aggregated_tokens_list, images, patch_start_idx)  # [B,S,C,H/s,W/s]
        iters = self.iters if iters is None else iters
        if query_frames is None:
            query_frames = torch.zeros(query_points.shape[1], dtype=torch.long, device=query_points.device)
        frames = torch.unique(query_frames).tolist()
        picked, parts = [], []
        for done, k in enumerate(frames, 1):
            sel = torch.nonzero(query_frames == k)[:, 0]
            swap = list(range(fmaps.shape[1]))
            swap[0], swap[k] = k, 0  # its own inverse
            fmaps[:, [0, k]] = fmaps[:, [k, 0]]  # in place: the maps are the head's largest tensor
            coords, vis, conf = self.tracker(query_points[:, sel], fmaps, iters=iters)
            fmaps[:, [0, k]] = fmaps[:, [k, 0]]
            parts.append(([c[:, swap] for c in coords], vis[:, swap], None if conf is None else conf[:, swap]))
            picked.append(sel)
            if callback is not None:
                callback(done, len(frames))
        back = torch.argsort(torch.cat(picked))  # concatenated query order -> input order

        def join(tensors: list[torch.Tensor]) -> torch.Tensor:
            return torch.cat(tensors, dim=2)[:, :, back]

        coords = [join([p[0][i] for p in parts]) for i in range(iters)]
        conf = None if parts[0][2] is None else join([p[2] for p in parts])
        return coords, join([p[1] for p in parts]), conf
