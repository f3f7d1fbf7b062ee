"""Iterative point tracker on dense feature maps (the track head's ``tracker``)."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import Mlp
from .corr import CorrPyramid
from .embeddings import flow_embedding, sample_sincos_pos_embed_2d
from .sampling import sample_at_points
from .update_former import EfficientUpdateFormer


class BaseTrackerPredictor(nn.Module):
    """Refines tracks of frame-0 query points through all S frames.

    Each iteration correlates the current track features with every frame's features around the current
    estimate, and a transformer over (frames x tracks) predicts coordinate and feature updates.

    Args:
        stride: feature-map cells per input pixel step (fmaps are 1/stride of the input resolution).
        corr_levels / corr_radius: correlation pyramid depth and window radius (window (2r+1)^2).
        latent_dim: feature-map channels C.
        hidden_size / depth / num_heads / mlp_ratio / num_virtual_tracks: update-former size.
        max_scale: normaliser for the raw flow values appended to the flow embedding.
        predict_conf: also predict a per-point confidence.
    """

    def __init__(
        self,
        stride: int = 2,
        corr_levels: int = 7,
        corr_radius: int = 4,
        latent_dim: int = 128,
        hidden_size: int = 384,
        depth: int = 6,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        num_virtual_tracks: int = 64,
        max_scale: float = 518.0,
        predict_conf: bool = True,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.corr_levels = corr_levels
        self.corr_radius = corr_radius
        self.latent_dim = latent_dim
        self.max_scale = max_scale
        self.predict_conf = predict_conf
        # Token = [flow embedding (2*(C/2) + 4 raw-flow values), correlation feature (C), track feature (C)].
        self.transformer_dim = 3 * latent_dim + 4
        self.query_ref_token = nn.Parameter(torch.randn(1, 2, self.transformer_dim).mul_(0.02))  # in place: see model_from_state_dict
        self.corr_mlp = Mlp(corr_levels * (2 * corr_radius + 1) ** 2, hidden_size, latent_dim)
        self.updateformer = EfficientUpdateFormer(
            input_dim=self.transformer_dim,
            hidden_size=hidden_size,
            output_dim=latent_dim + 2,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            num_virtual_tracks=num_virtual_tracks,
        )
        self.fmap_norm = nn.LayerNorm(latent_dim)
        self.ffeat_norm = nn.GroupNorm(1, latent_dim)
        self.ffeat_updater = nn.Sequential(nn.Linear(latent_dim, latent_dim), nn.GELU())
        self.vis_predictor = nn.Sequential(nn.Linear(latent_dim, 1))
        if predict_conf:
            self.conf_predictor = nn.Sequential(nn.Linear(latent_dim, 1))

    def forward(
        self, query_points: torch.Tensor, fmaps: torch.Tensor, iters: int = 4
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """Track query points.

        Args:
            query_points: [B,N,2] (x, y) in input pixels on frame 0; feature cell i is read at input
                pixel i*stride (align_corners=True sampling, as in the original model).
            fmaps: [B,S,C,H',W'] feature maps at 1/stride resolution.
            iters: refinement iterations.

        Returns:
            coord_preds: list (one per iteration) of [B,S,N,2] (x, y) in input pixels; frame 0 always equals
                the queries. vis [B,S,N] and conf [B,S,N] (None if predict_conf is False), sigmoids in (0, 1).
        """
        b, s, c, h, w = fmaps.shape
        n = query_points.shape[1]
        # Contiguous once here: the correlation pyramid reshapes these maps every iteration.
        fmaps = self.fmap_norm(fmaps.permute(0, 1, 3, 4, 2)).permute(0, 1, 4, 2, 3).contiguous()

        queries = query_points / float(self.stride)
        coords = queries[:, None].expand(b, s, n, 2).clone()  # [B,S,N,2] in feature cells
        track_feats = sample_at_points(fmaps[:, 0], queries)[:, None].expand(b, s, n, c)  # [B,S,N,C]

        pyramid = CorrPyramid(fmaps, self.corr_levels, self.corr_radius)
        # Position of each track = its frame-0 query, encoded on the feature grid (constant over iterations).
        pos = sample_sincos_pos_embed_2d(self.transformer_dim, h, w, queries).reshape(b * n, 1, -1)
        # Frame 0 (the query frame) gets its own reference token.
        ref = torch.cat([self.query_ref_token[:, :1], self.query_ref_token[:, 1:].expand(-1, s - 1, -1)], dim=1)

        coord_preds = []
        for _ in range(iters):
            coords = coords.detach()
            corr = self.corr_mlp(pyramid.sample(track_feats, coords))  # [B,S,N,C]
            flows = (coords - coords[:, :1]).permute(0, 2, 1, 3).reshape(b * n, s, 2)
            flow_emb = flow_embedding(flows, self.latent_dim // 2)
            scaled = flows / self.max_scale
            feats_bn = track_feats.permute(0, 2, 1, 3).reshape(b * n, s, c)
            corr_bn = corr.permute(0, 2, 1, 3).reshape(b * n, s, c)
            x = torch.cat([flow_emb, scaled, scaled, corr_bn, feats_bn], dim=-1) + pos + ref
            delta = self.updateformer(x.reshape(b, n, s, -1)).reshape(b * n * s, c + 2)

            feats_bn = feats_bn.reshape(b * n * s, c) + self.ffeat_updater(self.ffeat_norm(delta[:, 2:]))
            track_feats = feats_bn.reshape(b, n, s, c).permute(0, 2, 1, 3)
            coords = coords + delta[:, :2].reshape(b, n, s, 2).permute(0, 2, 1, 3)
            # The query frame is known exactly: pin it.
            coords = torch.cat([queries[:, None], coords[:, 1:]], dim=1)
            coord_preds.append(coords * self.stride)

        vis = torch.sigmoid(self.vis_predictor(track_feats)[..., 0])
        conf = torch.sigmoid(self.conf_predictor(track_feats)[..., 0]) if self.predict_conf else None
        return coord_preds, vis, conf
