"""Transformer building blocks, one per module."""
from .attention import Attention
from .block import Block
from .layer_scale import LayerScale
from .mlp import Mlp
from .patch_embed import PatchEmbed
from .rope import RotaryPositionEmbedding2D

__all__ = ["Attention", "Block", "LayerScale", "Mlp", "PatchEmbed", "RotaryPositionEmbedding2D", "block"]  # block: its slice size
