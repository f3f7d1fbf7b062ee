"""Headless Blender: ``blender -b -c vggt ...`` (``cli``) and its scene setup and export options (``scene_cli``)."""
