"""COLMAP sparse models (``cameras``, ``images``, ``points3D`` as ``.bin`` and/or ``.txt``) and datasets.

Written from COLMAP's documented formats (little-endian binary; text with ``#`` comments):

* one PINHOLE camera per frame (``camera_id = image_id = frame position + 1``) at the frame's ORIGINAL
  resolution with the original-pixel intrinsics ``fx fy cx cy`` (COLMAP also puts pixel centres at
  ``i + 0.5``, like ``Reconstruction``);
* images: ``qvec = (w, x, y, z)`` and ``tvec`` of the camera-from-world pose, named by ``image_names``
  (whitespace becomes ``_``: COLMAP's text reader splits on spaces); no 2D keypoints;
* points3D: the given ``PointSet`` with ``error = 0`` and **empty tracks** (the points come from dense depth,
  not from matched keypoints; tools that need observations, e.g. COLMAP's bundle adjuster, must re-triangulate).

``write_colmap_dataset`` writes the layout Gaussian-splatting trainers read (``ROOT/images/`` holding every
frame under its model name, ``ROOT/sparse/0/`` the model).
"""
from __future__ import annotations

import os
import re
import shutil
import struct
from collections.abc import Callable, Sequence
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


def image_names(frames: Sequence[FrameInfo], as_png: Sequence[bool] | None = None) -> list[str]:
    """Unique COLMAP image names for ``frames``: the file name with whitespace replaced by ``_``; video
    frames ``<video stem>_<frame number:06d>.png``; ``as_png[k]`` (default: video frames only) gives frame k
    a ``.png`` suffix. Prefixed by position (``00003_``) when names clash."""
    if as_png is None:
        as_png = [f.timestamp is not None for f in frames]
    names = []
    for f, png in zip(frames, as_png):
        path = Path(f.source)
        name = f"{path.stem}_{f.index:06d}.png" if f.timestamp is not None else path.name
        if png:
            name = Path(name).with_suffix(".png").name
        names.append(re.sub(r"\s", "_", name))
    if len(set(names)) < len(names):
        names = [f"{k:05d}_{n}" for k, n in enumerate(names)]
    return names


def _usable_as_is(frame: FrameInfo) -> bool:
    """True for a JPEG/PNG file (what every trainer reads) that shows the frame as decoded: no EXIF
    rotation/mirroring (trainers ignore it)."""
    from PIL import Image

    if frame.timestamp is not None or Path(frame.source).suffix.lower() not in (".jpg", ".jpeg", ".png"):
        return False
    with Image.open(frame.source) as img:
        return img.getexif().get(0x0112, 1) == 1 and img.size == (frame.width, frame.height)


def write_images(
    out_dir: str | Path, frames: Sequence[FrameInfo], progress: Callable[[float], None] | None = None
) -> list[str]:
    """Put every frame into ``out_dir`` at its original resolution; returns the names (``image_names``).

    JPEG/PNG files that need no EXIF rotation are hard-linked (copied across file systems; a file that
    already is the target is left alone); video frames and other images are decoded and written as PNG.
    progress: called with the fraction of decoded frames written (0..1).
    """
    from PIL import Image

    from ..frames import iter_frames

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keep = [_usable_as_is(f) for f in frames]
    names = image_names(frames, [not k for k in keep])
    for frame, name, k in zip(frames, names, keep):
        target = out / name
        if not k or (target.exists() and os.path.samefile(frame.source, target)):
            continue
        target.unlink(missing_ok=True)
        try:
            os.link(frame.source, target)
        except OSError:  # another file system, or links not supported
            shutil.copyfile(frame.source, target)
    todo = [k for k, kept in enumerate(keep) if not kept]
    for pos, pixels in iter_frames([frames[k] for k in todo], progress):
        Image.fromarray(pixels).save(out / names[todo[pos]], compress_level=1)  # fast; lossless all the same
    return names


def write_colmap(
    out_dir: str | Path,
    recon: Reconstruction,
    points: PointSet | None = None,
    binary: bool = True,
    text: bool = True,
    names: Sequence[str] | None = None,
) -> Path:
    """Write the sparse model of ``recon`` (and ``points``, if given) into ``out_dir``. Returns ``out_dir``.

    names: the image names (default ``image_names(recon.frames)``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cams = [
        (k + 1, f.width, f.height, [K[0, 0], K[1, 1], K[0, 2], K[1, 2]])
        for k, (f, K) in enumerate(zip(recon.frames, np.asarray(recon.intrinsics, np.float64)))
    ]
    names = image_names(recon.frames) if names is None else list(names)
    if len(names) != len(recon.frames) or any(re.search(r"\s", n) for n in names):
        raise ValueError("need one image name per frame, without whitespace")
    imgs = [
        (k + 1, rotation_to_quaternion(E[:, :3]), E[:, 3], name)
        for k, (E, name) in enumerate(zip(np.asarray(recon.extrinsics, np.float64), names))
    ]
    pts = points if points is not None else PointSet(
        np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), np.zeros(0, np.float32), np.zeros(0, np.int32)
    )
    if binary:
        _write_binary(out, cams, imgs, pts)
    if text:
        _write_text(out, cams, imgs, pts)
    return out


def write_colmap_dataset(
    root: str | Path,
    recon: Reconstruction,
    points: PointSet | None = None,
    progress: Callable[[float], None] | None = None,
) -> Path:
    """A COLMAP dataset in ``root``: ``images/`` (``write_images``) and ``sparse/0/`` (``write_colmap``, binary
    and text), the layout Gaussian-splatting trainers take (e.g. ``train.py -s ROOT``). Returns ``root``."""
    root = Path(root)
    names = write_images(root / "images", recon.frames, progress)
    write_colmap(root / "sparse" / "0", recon, points, names=names)
    return root


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
