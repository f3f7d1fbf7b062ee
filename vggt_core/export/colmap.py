"""COLMAP sparse models (``cameras``, ``images``, ``points3D`` as ``.bin`` and/or ``.txt``).

Written from COLMAP's documented formats (little-endian binary; text with ``#`` comments):

* one PINHOLE camera per frame (``camera_id = image_id = frame position + 1``) at the frame's ORIGINAL
  resolution with the original-pixel intrinsics ``fx fy cx cy`` (COLMAP also puts pixel centres at
  ``i + 0.5``, like ``Reconstruction``);
* images: ``qvec = (w, x, y, z)`` and ``tvec`` of the camera-from-world pose, named after the source file
  (video frames: ``<video stem>_<frame number:06d>.png``); no 2D keypoints;
* points3D: the given ``PointSet`` with ``error = 0`` and **empty tracks** (the points come from dense depth,
  not from matched keypoints; tools that need observations, e.g. COLMAP's bundle adjuster, must re-triangulate).
"""
from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..filters import PointSet
from ..reconstruction import FrameInfo, Reconstruction

PINHOLE_MODEL_ID = 1
_POINT_DTYPE = np.dtype(
    [("id", "<u8"), ("xyz", "<f8", (3,)), ("rgb", "u1", (3,)), ("error", "<f8"), ("track_length", "<u8")]
)


def rotation_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] -> unit quaternion (w, x, y, z) with w >= 0 (Shepperd's method)."""
    r = np.asarray(rot, dtype=np.float64)
    trace = np.trace(r)
    diag = np.diag(r)
    k = int(np.argmax([trace, *diag]))
    if k == 0:
        w = np.sqrt(1.0 + trace) / 2.0
        q = np.array([w, (r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w), (r[1, 0] - r[0, 1]) / (4 * w)])
    else:
        i = k - 1
        j, m = (i + 1) % 3, (i + 2) % 3
        s = np.sqrt(1.0 + r[i, i] - r[j, j] - r[m, m]) * 2.0  # s = 4 * q_i
        q = np.empty(4)
        q[0] = (r[m, j] - r[j, m]) / s
        q[1 + i] = s / 4.0
        q[1 + j] = (r[j, i] + r[i, j]) / s
        q[1 + m] = (r[m, i] + r[i, m]) / s
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def image_names(frames: Sequence[FrameInfo]) -> list[str]:
    """Unique COLMAP image names for ``frames`` (file names; prefixed by position when names clash)."""
    names = [
        Path(f.source).name if f.timestamp is None else f"{Path(f.source).stem}_{f.index:06d}.png" for f in frames
    ]
    if len(set(names)) < len(names):
        names = [f"{k:05d}_{n}" for k, n in enumerate(names)]
    return names


def write_colmap(
    out_dir: str | Path, recon: Reconstruction, points: PointSet | None = None, binary: bool = True, text: bool = True
) -> Path:
    """Write the sparse model of ``recon`` (and ``points``, if given) into ``out_dir``. Returns ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cams = [
        (k + 1, f.width, f.height, [K[0, 0], K[1, 1], K[0, 2], K[1, 2]])
        for k, (f, K) in enumerate(zip(recon.frames, np.asarray(recon.intrinsics, np.float64)))
    ]
    imgs = [
        (k + 1, rotation_to_quaternion(E[:, :3]), E[:, 3], name)
        for k, (E, name) in enumerate(zip(np.asarray(recon.extrinsics, np.float64), image_names(recon.frames)))
    ]
    pts = points if points is not None else PointSet(
        np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), np.zeros(0, np.float32), np.zeros(0, np.int32)
    )
    if binary:
        _write_binary(out, cams, imgs, pts)
    if text:
        _write_text(out, cams, imgs, pts)
    return out


def _write_binary(out: Path, cams: list, imgs: list, pts: PointSet) -> None:
    with open(out / "cameras.bin", "wb") as fh:
        fh.write(struct.pack("<Q", len(cams)))
        for cam_id, w, h, params in cams:
            fh.write(struct.pack("<iiQQ4d", cam_id, PINHOLE_MODEL_ID, w, h, *params))
    with open(out / "images.bin", "wb") as fh:
        fh.write(struct.pack("<Q", len(imgs)))
        for image_id, q, t, name in imgs:
            fh.write(struct.pack("<i4d3di", image_id, *q, *t, image_id))
            fh.write(name.encode("utf-8") + b"\0")
            fh.write(struct.pack("<Q", 0))  # no 2D points
    records = np.zeros(len(pts), dtype=_POINT_DTYPE)  # error 0, track length 0
    records["id"] = np.arange(1, len(pts) + 1)
    records["xyz"] = pts.xyz
    records["rgb"] = pts.rgb
    with open(out / "points3D.bin", "wb") as fh:
        fh.write(struct.pack("<Q", len(pts)))
        records.tofile(fh)


def _write_text(out: Path, cams: list, imgs: list, pts: PointSet) -> None:
    with open(out / "cameras.txt", "w", encoding="utf-8") as fh:
        fh.write("# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n")
        fh.write(f"# Number of cameras: {len(cams)}\n")
        for cam_id, w, h, params in cams:
            fh.write(f"{cam_id} PINHOLE {w} {h} " + " ".join(repr(float(p)) for p in params) + "\n")
    with open(out / "images.txt", "w", encoding="utf-8") as fh:
        fh.write("# Image list with two lines of data per image:\n")
        fh.write("#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n#   POINTS2D[] as (X, Y, POINT3D_ID)\n")
        fh.write(f"# Number of images: {len(imgs)}, mean observations per image: 0\n")
        for image_id, q, t, name in imgs:
            pose = " ".join(repr(float(v)) for v in (*q, *t))
            fh.write(f"{image_id} {pose} {image_id} {name}\n\n")
    with open(out / "points3D.txt", "w", encoding="utf-8") as fh:
        fh.write("# 3D point list with one line of data per point:\n")
        fh.write("#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n")
        fh.write(f"# Number of points: {len(pts)}, mean track length: 0\n")
        if len(pts):
            ids = np.arange(1, len(pts) + 1, dtype=np.float64)  # exact in float64 far beyond any point count
            rows = np.column_stack([ids, pts.xyz.astype(np.float64), pts.rgb, np.zeros(len(pts))])
            np.savetxt(fh, rows, fmt=["%d", "%.9g", "%.9g", "%.9g", "%d", "%d", "%d", "%g"])
