"""Errors a user can hit. Each carries a one-line message that says what to do next.

Code anywhere in vggt_core raises these; the CLI prints ``str(err)`` and exits non-zero, and the Blender
extension shows it with ``operator.report``. Programming errors stay ordinary exceptions.
"""
from __future__ import annotations


class VGGTError(Exception):
    """Base class: a problem the user can fix. ``str(err)`` is a single actionable line."""


class InputError(VGGTError):
    """No frames, unreadable/corrupt image or video, bad frame selection, bad image size."""


class WeightsError(VGGTError):
    """Weights missing, offline without a cached copy, gated repo without access, bad checkpoint."""


class OutOfMemoryError(VGGTError):
    """The device ran out of memory; the message suggests fewer frames or a lower resolution."""


class CacheError(VGGTError):
    """A cache file is truncated, corrupt or of another schema version."""


class Cancelled(VGGTError):
    """The user cancelled the run; raised between transformer blocks / head chunks."""


def one_line(err: BaseException) -> str:
    """An exception as a single line (first line of its message, else its type)."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
