"""Writers for standard formats: binary PLY point clouds (``ply``) and COLMAP sparse models (``colmap``)."""
