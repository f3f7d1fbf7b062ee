"""Building blocks of VGGT's track head (tracker, correlation, embeddings, update former)."""
from .tracker import BaseTrackerPredictor

__all__ = ["BaseTrackerPredictor"]
