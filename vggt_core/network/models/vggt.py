"""The VGGT model: aggregator + camera, depth, point and track heads."""
from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ...errors import InputError
from ..heads.camera_head import CameraHead
from ..heads.dpt_head import DPTHead
from .aggregator import Aggregator

# callback(stage, done, total); stages: "aggregator", "camera", "depth", "points", "tracks".
StageCallback = Callable[[str, int, int], None]

_AUTOCAST_DEVICES = ("cuda", "cpu", "mps", "xpu")


@dataclass(frozen=True)
class VGGTConfig:
    """Architecture hyper-parameters. `VGGTConfig()` is VGGT-1B; `VGGTConfig.tiny()` a test-size model."""

    img_size: int = 518
    patch_size: int = 14
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    dino_depth: int = 24
    dino_num_heads: int = 16
    camera_trunk_depth: int = 4
    camera_num_heads: int = 16
    camera_iters: int = 4
    dpt_features: int = 256
    dpt_out_channels: tuple[int, ...] = (256, 512, 1024, 1024)
    dpt_layers: tuple[int, ...] = (4, 11, 17, 23)
    track_features: int = 128
    track_iters: int = 4
    track_hidden_size: int = 384
    track_depth: int = 6
    track_num_heads: int = 8
    track_num_virtual_tracks: int = 64
    track_corr_levels: int = 7
    track_corr_radius: int = 4
    enable_camera: bool = True
    enable_depth: bool = True
    enable_point: bool = True
    enable_track: bool = True

    @classmethod
    def tiny(cls) -> "VGGTConfig":
        """A half-million-parameter model exercising every code path.

        5 layers of which the dense heads read 0, 1, 3, 4, so layer 2 is computed but not kept.
        """
        return cls(
            img_size=56, embed_dim=32, depth=5, num_heads=2, dino_depth=2, dino_num_heads=2,
            camera_trunk_depth=1, camera_num_heads=2, dpt_features=16, dpt_out_channels=(8, 16, 32, 32),
            dpt_layers=(0, 1, 3, 4), track_features=16, track_hidden_size=32, track_depth=1, track_num_heads=2,
            track_num_virtual_tracks=4, track_corr_levels=3, track_corr_radius=2,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable field dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VGGTConfig":
        """Build from a dict, ignoring unknown keys (e.g. extra entries of a hub config.json)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
        return cls(**kwargs)


class VGGT(nn.Module):
    """Visual Geometry Grounded Transformer.

    Attribute names (aggregator, camera_head, depth_head, point_head, track_head) are the
    checkpoint contract: the state dict matches the released VGGT-1B checkpoint.
    """

    def __init__(self, config: VGGTConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or VGGTConfig()
        self.frames_chunk_size = 8
        dim2 = 2 * cfg.embed_dim
        self.aggregator = Aggregator(
            cfg.img_size, cfg.patch_size, cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.mlp_ratio,
            cfg.num_register_tokens, cfg.dino_depth, cfg.dino_num_heads,
        )  # fmt: skip
        self.camera_head = (
            CameraHead(dim2, cfg.camera_trunk_depth, cfg.camera_num_heads, cfg.mlp_ratio) if cfg.enable_camera else None
        )
        dpt = dict(
            patch_size=cfg.patch_size, features=cfg.dpt_features, out_channels=cfg.dpt_out_channels,
            intermediate_layer_idx=cfg.dpt_layers,
        )  # fmt: skip
        self.point_head = DPTHead(dim2, output_dim=4, activation="inv_log", **dpt) if cfg.enable_point else None
        self.depth_head = DPTHead(dim2, output_dim=2, activation="exp", **dpt) if cfg.enable_depth else None
        self.track_head = self._make_track_head(cfg) if cfg.enable_track else None

    @staticmethod
    def _make_track_head(cfg: VGGTConfig) -> nn.Module:
        from ..heads.track_head import TrackHead

        return TrackHead(
            dim_in=2 * cfg.embed_dim, patch_size=cfg.patch_size, features=cfg.track_features, iters=cfg.track_iters,
            corr_levels=cfg.track_corr_levels, corr_radius=cfg.track_corr_radius, hidden_size=cfg.track_hidden_size,
            depth=cfg.track_depth, num_heads=cfg.track_num_heads, num_virtual_tracks=cfg.track_num_virtual_tracks,
            out_channels=cfg.dpt_out_channels, intermediate_layer_idx=cfg.dpt_layers,
        )  # fmt: skip

    def needed_layers(self, with_track: bool) -> list[int]:
        """Aggregator layers the enabled heads read (the camera head reads the last one)."""
        depth = self.config.depth
        layers: set[int] = set()
        if self.camera_head is not None:
            layers.add(depth - 1)
        for head in (self.depth_head, self.point_head):
            if head is not None:
                layers.update(i % depth for i in head.intermediate_layer_idx)
        if with_track and self.track_head is not None:
            layers.update(i % depth for i in self.track_head.feature_extractor.intermediate_layer_idx)
        return sorted(layers)

    def validate_inputs(self, images: Any, query_points: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Check and batch inputs: images [S,3,H,W] or [B,S,3,H,W] -> [B,S,3,H,W]; queries -> [B,N,2].

        Raises InputError for non-tensors, non-float dtypes, wrong shapes, no frames, sizes that are
        not multiples of the patch size and values outside [0, 1].
        """
        p = self.config.patch_size
        if not isinstance(images, torch.Tensor):
            raise InputError(f"images must be a torch tensor, got {type(images).__name__}")
        if not images.is_floating_point():
            raise InputError(f"images must be floating point in [0, 1], got dtype {images.dtype}")
        if images.ndim == 4:
            images = images[None]
        if images.ndim != 5 or images.shape[2] != 3:
            raise InputError(f"images must be [S,3,H,W] or [B,S,3,H,W], got shape {tuple(images.shape)}")
        B, S, _, H, W = images.shape
        if B == 0 or S == 0:
            raise InputError("no frames to reconstruct: give at least one image")
        if H == 0 or W == 0 or H % p or W % p:
            raise InputError(f"image size {W}x{H} is not a multiple of {p} pixels; preprocess the images first")
        lo, hi = float(images.min()), float(images.max())
        if lo < 0.0 or hi > 1.0:
            raise InputError(f"image values must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]")
        if query_points is not None:
            if not isinstance(query_points, torch.Tensor) or not query_points.is_floating_point():
                raise InputError("query_points must be a float tensor of (x, y) pixels")
            if query_points.ndim == 2:
                query_points = query_points[None]
            if query_points.ndim != 3 or query_points.shape[-1] != 2 or query_points.shape[0] not in (1, B):
                raise InputError(f"query_points must be [N,2] or [B,N,2], got {tuple(query_points.shape)}")
            query_points = query_points.expand(B, -1, -1).to(images.device)
        return images, query_points

    def forward(
        self,
        images: torch.Tensor,
        query_points: torch.Tensor | None = None,
        callback: StageCallback | None = None,
        frames_chunk_size: int | None = None,
        query_frames: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        """Predict cameras, depth, points (and tracks for `query_points`).

        images: [S,3,H,W] or [B,S,3,H,W] float in [0,1], H and W multiples of 14.
        query_points: [N,2] or [B,N,2] (x, y) input pixels on frame 0; the track head runs only then.
        callback(stage, done, total): called after every transformer block and head chunk.
        frames_chunk_size: frames per depth/point-head chunk (default `self.frames_chunk_size`, 8);
            smaller chunks lower peak memory, results agree to float32 rounding.
        query_frames: optional [N] int frame of each query point (default frame 0); see `TrackHead.forward`.
        Returns a dict (insertion order as the original): pose_enc [B,S,9], pose_enc_list (list of
        [B,S,9]), depth [B,S,H,W,1], depth_conf [B,S,H,W], world_points [B,S,H,W,3],
        world_points_conf [B,S,H,W], track [B,S,N,2], vis [B,S,N], conf [B,S,N] (with queries) and
        images [B,S,3,H,W] (eval mode only).
        """
        images, query_points = self.validate_inputs(images, query_points)
        chunk = frames_chunk_size or self.frames_chunk_size
        with_track = query_points is not None and self.track_head is not None
        if query_frames is not None:
            query_frames = torch.as_tensor(query_frames, dtype=torch.long, device=images.device).reshape(-1)
            if query_points is None or len(query_frames) != query_points.shape[1]:
                raise InputError("query_frames needs one frame index per query point")
            if len(query_frames) and not 0 <= int(query_frames.min()) <= int(query_frames.max()) < images.shape[1]:
                raise InputError(f"query frames must lie in 0..{images.shape[1] - 1}")

        def stage(name: str) -> Callable[[int, int], None] | None:
            if callback is None:
                return None
            return lambda done, total: callback(name, done, total)

        tokens, psi = self.aggregator(images, self.needed_layers(with_track), stage("aggregator"))
        out: dict[str, Any] = {}
        dev = images.device.type
        no_autocast = torch.autocast(dev, enabled=False) if dev in _AUTOCAST_DEVICES else nullcontext()
        with no_autocast:  # camera/depth/point heads run in fp32 (upcasting bf16 layers per chunk), as released
            if self.camera_head is not None:
                poses = self.camera_head(tokens, self.config.camera_iters, stage("camera"))
                out["pose_enc"] = poses[-1]
                out["pose_enc_list"] = poses
            if self.depth_head is not None:
                depth, depth_conf = self.depth_head(tokens, images, psi, chunk, stage("depth"))
                out["depth"], out["depth_conf"] = depth, depth_conf
            if self.point_head is not None:
                pts, pts_conf = self.point_head(tokens, images, psi, chunk, stage("points"))
                out["world_points"], out["world_points_conf"] = pts, pts_conf
        if with_track:
            if callback is not None:
                callback("tracks", 0, 1)
            coords, vis, conf = self.track_head(tokens, images, psi, query_points, query_frames=query_frames,
                                                callback=stage("tracks"))
            out["track"], out["vis"], out["conf"] = coords[-1], vis, conf
        del tokens
        if not self.training:
            out["images"] = images
        return out
