"""Binary little-endian PLY point clouds: ``x y z`` float, ``red green blue`` uchar, ``confidence`` float."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .points import PointSet

VERTEX_DTYPE = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("confidence", "<f4")]
)


def write_ply(path: str | Path, points: PointSet) -> Path:
    """Write ``points`` (world coordinates as stored, no axis change) to ``path``. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vertices = np.empty(len(points), dtype=VERTEX_DTYPE)
    for axis, name in enumerate("xyz"):
        vertices[name] = points.xyz[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        vertices[name] = points.rgb[:, channel]
    vertices["confidence"] = points.conf
    header = "\n".join(
        ["ply", "format binary_little_endian 1.0", "comment written by vggt_core", f"element vertex {len(points)}"]
        + [f"property {'uchar' if VERTEX_DTYPE[n] == np.uint8 else 'float'} {n}" for n in VERTEX_DTYPE.names]
        + ["end_header", ""]
    )
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii"))
        vertices.tofile(fh)
    return path
