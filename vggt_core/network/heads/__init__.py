"""Prediction heads on top of the aggregator's tokens."""
from .camera_head import CameraHead
from .dpt_head import DPTHead

__all__ = ["CameraHead", "DPTHead"]
