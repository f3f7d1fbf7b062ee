"""Blender operators, thin: settings -> frozen dataclass -> pipeline (``runs``, ``convert``) -> builders -> report.
Run / Re-import (``run_ops``), scene setup, exports, model download and cache."""
