"""VGGT model and its backbone modules."""
from .aggregator import Aggregator
from .dinov2 import DinoVisionTransformer
from .vggt import VGGT, VGGTConfig

__all__ = ["Aggregator", "DinoVisionTransformer", "VGGT", "VGGTConfig"]
