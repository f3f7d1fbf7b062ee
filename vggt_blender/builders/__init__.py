"""bpy builders: turn ``vggt_blender.convert`` arrays into Blender datablocks (main thread only).

Entry point: ``import_reconstruction(recon, settings, context_or_scene, name=None, cache_path=None)``.
"""
from .scene import import_reconstruction

__all__ = ["import_reconstruction"]
