"""Coloured point clouds as binary glTF (``.glb``): one POINTS primitive with POSITION and COLOR_0.

Blender's glTF exporter drops vertices without faces (checked on 4.2, 5.0 and 5.2), so points are
written here, as the official VGGT demo offers them (it uses trimesh). glTF is Y-up with +Z towards
the viewer; callers pass points in that frame (``Z_UP_TO_GLTF`` turns Blender's Z-up world into it).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

# Blender world (Z up) -> glTF (Y up): (x, y, z) -> (x, z, -y), what Blender's own glTF exporter does.
Z_UP_TO_GLTF = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

_FLOAT, _ARRAY_BUFFER, _POINTS = 5126, 34962, 0


def write_points_glb(path: str | Path, xyz: np.ndarray, rgb_linear: np.ndarray) -> Path:
    """Write points ``xyz`` [N, 3] (glTF frame, metres or scene units) with linear RGB colours
    ``rgb_linear`` [N, 3] in [0, 1] (glTF's COLOR_0 is linear) to ``path``. Returns the path."""
    pos = np.ascontiguousarray(xyz, dtype="<f4").reshape(-1, 3)
    col = np.ascontiguousarray(np.clip(rgb_linear, 0.0, 1.0), dtype="<f4").reshape(-1, 3)
    if len(pos) != len(col):
        raise ValueError(f"{len(pos)} points but {len(col)} colours")
    if len(pos) == 0:
        raise ValueError("no points to write")
    blob = pos.tobytes() + col.tobytes()
    gltf = {
        "asset": {"version": "2.0", "generator": "vggt_core"},
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0, "name": "points"}],
        "meshes": [{"name": "points", "primitives": [{"attributes": {"POSITION": 0, "COLOR_0": 1}, "mode": _POINTS}]}],
        "buffers": [{"byteLength": len(blob)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": pos.nbytes, "target": _ARRAY_BUFFER},
                        {"buffer": 0, "byteOffset": pos.nbytes, "byteLength": col.nbytes, "target": _ARRAY_BUFFER}],
        "accessors": [
            {"bufferView": 0, "componentType": _FLOAT, "count": len(pos), "type": "VEC3",
             "min": pos.min(axis=0).tolist(), "max": pos.max(axis=0).tolist()},  # min/max: required for POSITION
            {"bufferView": 1, "componentType": _FLOAT, "count": len(col), "type": "VEC3"},
        ],
    }
    text = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)  # chunks are 4-byte aligned: JSON padded with spaces, BIN with zeros
    blob += b"\0" * (-len(blob) % 4)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(text) + 8 + len(blob)))
        fh.write(struct.pack("<I4s", len(text), b"JSON") + text)
        fh.write(struct.pack("<I4s", len(blob), b"BIN\0") + blob)
    return path
