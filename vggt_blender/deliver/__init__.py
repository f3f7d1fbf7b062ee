"""What the extension delivers from an import: the animated camera (``camera``), the lens package and the
redistort scene (``lens``), GLB points and COLMAP (``points``), each read back from the import (``imported``).
Called by the export operators, the QC render and ``blender -b -c vggt``; no operator lives here."""
