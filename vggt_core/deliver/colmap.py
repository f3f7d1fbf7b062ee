"""COLMAP sparse models (``cameras``, ``images``, ``points3D`` as ``.bin`` and/or ``.txt``) and datasets.

Written from COLMAP's documented formats (little-endian binary; text with ``#`` comments):

* one PINHOLE camera per frame (``camera_id = image_id = frame position + 1``) at the frame's ORIGINAL
  resolution with the original-pixel intrinsics ``fx fy cx cy`` (COLMAP also puts pixel centres at
  ``i + 0.5``, like ``Reconstruction``); after a camera solve, the solved lens (``recon.lens``: its model and
  each frame's distortion): one camera (id 1) shared by every image for one lens for the shot, else a camera per
  frame (a zoom: each with its focal and distortion), PINHOLE, or SIMPLE_RADIAL / RADIAL when distortion was solved;
* images: ``qvec = (w, x, y, z)`` and ``tvec`` of the camera-from-world pose, named by ``image_names``
  (whitespace becomes ``_``: COLMAP's text reader splits on spaces); 2D points: the solve's observations;
* points3D: first the solve's bundle-adjusted points with their tracks and reprojection errors (when
  ``recon.sparse_points`` exists), then the given ``PointSet`` with ``error = 0`` and **empty tracks** (those come
  from dense depth, not from tracked keypoints).

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

from .points import PointSet
from ..plate.frame_numbers import plate_frame_numbers
from ..reconstruction import FrameInfo, Lens, Reconstruction
from ..solve.colmap_output import quiet_colmap

_MODEL_IDS = {"PINHOLE": 1, "SIMPLE_RADIAL": 2, "RADIAL": 3}
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


def image_names(frames: Sequence[FrameInfo], as_png: Sequence[bool] | None = None,
                frame_numbers: Sequence[int] | None = None) -> list[str]:
    """Unique COLMAP image names for ``frames``: the file name with whitespace replaced by ``_``; video
    frames ``<video stem>_<plate frame number:06d>.png`` (``frame_numbers``, default
    ``vggt_core.plate.frame_numbers.plate_frame_numbers``: the video's frame 0 is 1); ``as_png[k]`` (default:
    video frames only) gives frame k a ``.png`` suffix. Prefixed by position (``00003_``) when names clash."""
    if as_png is None:
        as_png = [f.timestamp is not None for f in frames]
    if frame_numbers is None:
        frame_numbers = plate_frame_numbers(frames)
    names = []
    for f, png, number in zip(frames, as_png, frame_numbers):
        path = Path(f.source)
        name = f"{path.stem}_{int(number):06d}.png" if f.timestamp is not None else path.name
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
    out_dir: str | Path, frames: Sequence[FrameInfo], progress: Callable[[float], None] | None = None,
    frame_numbers: Sequence[int] | None = None,
) -> list[str]:
    """Put every frame into ``out_dir`` at its original resolution; returns the names (``image_names``, with
    ``frame_numbers``).

    JPEG/PNG files that need no EXIF rotation are hard-linked (copied across file systems; a file that
    already is the target is left alone); video frames and other images are decoded and written as PNG.
    progress: called with the fraction of decoded frames written (0..1).
    """
    from PIL import Image

    from ..plate.frames import iter_frames

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keep = [_usable_as_is(f) for f in frames]
    names = image_names(frames, [not k for k in keep], frame_numbers)
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
    cams, cam_of = _cameras(recon)
    names = image_names(recon.frames) if names is None else list(names)
    if len(names) != len(recon.frames) or any(re.search(r"\s", n) for n in names):
        raise ValueError("need one image name per frame, without whitespace")
    obs = _observations(recon)
    imgs = [
        (k + 1, rotation_to_quaternion(E[:, :3]), E[:, 3], cam_of[k], name, obs[k])
        for k, (E, name) in enumerate(zip(np.asarray(recon.extrinsics, np.float64), names))
    ]
    pts = points if points is not None else PointSet(
        np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), np.zeros(0, np.float32), np.zeros(0, np.int32)
    )
    tracked = _tracked_points(recon, obs)
    if binary:
        _write_binary(out, cams, imgs, tracked, pts)
    if text:
        _write_text(out, cams, imgs, tracked, pts)
    return out


def _cameras(recon: Reconstruction) -> tuple[list, list[int]]:
    """COLMAP cameras ``(id, model, width, height, params)`` and each frame's camera id, from the solved lens
    (``recon.lens``; a pinhole camera per frame without one): one camera for a shared or known lens, else one per
    frame, each with its own focal and distortion."""
    lens = recon.lens if recon.lens is not None else Lens.fixed("PINHOLE", recon.num_frames, shared=False)
    if lens.shared:
        f = recon.frames[0]
        return [(1, lens.model, f.width, f.height, lens.params(recon.intrinsics[0], 0))], [1] * recon.num_frames
    cams = [(i + 1, lens.model, f.width, f.height, lens.params(K, i))
            for i, (f, K) in enumerate(zip(recon.frames, recon.intrinsics))]
    return cams, [i + 1 for i in range(recon.num_frames)]


def _observations(recon: Reconstruction) -> list[list[tuple[float, float, int]]]:
    """Per frame, the solve's observations ``(x, y, point3D_id)`` in original pixels (empty without a solve)."""
    out: list[list[tuple[float, float, int]]] = [[] for _ in recon.frames]
    if recon.sparse_obs is not None:
        for (frame, point), (x, y) in zip(recon.sparse_obs.tolist(), recon.sparse_uv.tolist()):
            out[frame].append((x, y, point + 1))
    return out


def _tracked_points(recon: Reconstruction, obs: list) -> list[tuple[int, np.ndarray, np.ndarray, float, list]]:
    """The solve's points ``(id, xyz, rgb, mean error px, [(image_id, point2D_idx), ...])``, ids from 1."""
    if recon.sparse_points is None:
        return []
    tracks: list[list[tuple[int, int]]] = [[] for _ in recon.sparse_points]
    for frame, rows in enumerate(obs):
        for idx, (_, _, pid) in enumerate(rows):
            tracks[pid - 1].append((frame + 1, idx))
    errors = _point_errors(recon)
    return [(i + 1, xyz, rgb, err, tr) for i, (xyz, rgb, err, tr) in
            enumerate(zip(recon.sparse_points.astype(np.float64), recon.sparse_colors, errors, tracks))]


def _point_errors(recon: Reconstruction) -> np.ndarray:
    """Mean reprojection error (px) of each solve point over its observations, as COLMAP stores it (through each
    frame's solved radial distortion ``1 + k1 r^2 + k2 r^4``, ``recon.lens``, when there is one)."""
    frame, point = recon.sparse_obs.T
    ext = np.asarray(recon.extrinsics, np.float64)[frame]
    cam = np.einsum("mij,mj->mi", ext[:, :, :3], recon.sparse_points[point].astype(np.float64)) + ext[:, :, 3]
    xy = cam[:, :2] / cam[:, 2:]
    r2 = np.sum(xy**2, axis=1, keepdims=True)
    if recon.lens is not None:
        k1, k2 = recon.lens.k[frame].T[:, :, None]
        xy = xy * (1 + k1 * r2 + k2 * r2**2)
    k = np.asarray(recon.intrinsics, np.float64)[frame]
    uv = np.stack([k[:, 0, 0] * xy[:, 0] + k[:, 0, 2], k[:, 1, 1] * xy[:, 1] + k[:, 1, 2]], axis=1)
    err = np.linalg.norm(uv - recon.sparse_uv, axis=1)
    total = np.bincount(point, err, minlength=len(recon.sparse_points))
    return total / np.maximum(np.bincount(point, minlength=len(recon.sparse_points)), 1)


def write_colmap_dataset(
    root: str | Path,
    recon: Reconstruction,
    points: PointSet | None = None,
    progress: Callable[[float], None] | None = None,
    frame_numbers: Sequence[int] | None = None,
) -> Path:
    """A COLMAP dataset in ``root``: ``images/`` (``write_images``; video frames named by ``frame_numbers``) and
    ``sparse/0/`` (``write_colmap``, binary and text), the layout Gaussian-splatting trainers take (e.g.
    ``train.py -s ROOT``). Returns ``root``.

    With solved distortion (a SIMPLE_RADIAL / RADIAL camera) the trainers, which take only pinhole cameras,
    get the undistorted dataset there instead (``pycolmap.undistort_images``: PINHOLE, images cropped to
    their valid pixels), and the distorted one is kept beside it in ``root/distorted/{images,sparse/0}``
    (the layout of the trainers' own ``convert.py``).
    """
    root = Path(root)
    distorted = _cameras(recon)[0][0][1] != "PINHOLE"
    base = root / "distorted" if distorted else root
    names = write_images(base / "images", recon.frames, progress, frame_numbers)
    write_colmap(base / "sparse" / "0", recon, points, names=names)
    if distorted:
        _undistort_dataset(base, root)
    return root


def _undistort_dataset(distorted: Path, root: Path) -> None:
    """``pycolmap.undistort_images`` of the dataset in ``distorted`` into ``root/images`` and ``root/sparse/0``
    (binary and text), replacing what was there."""
    import tempfile

    import pycolmap

    with tempfile.TemporaryDirectory(dir=root, prefix=".undistort-") as tmp:
        with quiet_colmap():  # COLMAP logs a line per image: keep the commands' progress output readable
            pycolmap.undistort_images(tmp, distorted / "sparse" / "0", distorted / "images")
        for sub in ("images", "sparse"):
            shutil.rmtree(root / sub, ignore_errors=True)
        shutil.move(Path(tmp) / "images", root / "images")
        (root / "sparse").mkdir()
        shutil.move(Path(tmp) / "sparse", root / "sparse" / "0")  # undistort_images writes a flat sparse/
    pycolmap.Reconstruction(root / "sparse" / "0").write_text(root / "sparse" / "0")


def _write_binary(out: Path, cams: list, imgs: list, tracked: list, pts: PointSet) -> None:
    with open(out / "cameras.bin", "wb") as fh:
        fh.write(struct.pack("<Q", len(cams)))
        for cam_id, model, w, h, params in cams:
            fh.write(struct.pack(f"<iiQQ{len(params)}d", cam_id, _MODEL_IDS[model], w, h, *params))
    with open(out / "images.bin", "wb") as fh:
        fh.write(struct.pack("<Q", len(imgs)))
        for image_id, q, t, cam_id, name, obs in imgs:
            fh.write(struct.pack("<i4d3di", image_id, *q, *t, cam_id))
            fh.write(name.encode("utf-8") + b"\0")
            fh.write(struct.pack("<Q", len(obs)))
            if obs:
                np.array(obs, dtype=[("x", "<f8"), ("y", "<f8"), ("id", "<i8")]).tofile(fh)
    records = np.zeros(len(pts), dtype=_POINT_DTYPE)  # error 0, track length 0
    records["id"] = np.arange(1, len(pts) + 1) + len(tracked)
    records["xyz"] = pts.xyz
    records["rgb"] = pts.rgb
    with open(out / "points3D.bin", "wb") as fh:
        fh.write(struct.pack("<Q", len(tracked) + len(pts)))
        for pid, xyz, rgb, err, track in tracked:
            fh.write(struct.pack("<Q3d3BdQ", pid, *xyz, *rgb, err, len(track)))
            fh.write(np.asarray(track, "<i4").tobytes())
        records.tofile(fh)


def _write_text(out: Path, cams: list, imgs: list, tracked: list, pts: PointSet) -> None:
    with open(out / "cameras.txt", "w", encoding="utf-8") as fh:
        fh.write("# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n")
        fh.write(f"# Number of cameras: {len(cams)}\n")
        for cam_id, model, w, h, params in cams:
            fh.write(f"{cam_id} {model} {w} {h} " + " ".join(repr(float(p)) for p in params) + "\n")
    with open(out / "images.txt", "w", encoding="utf-8") as fh:
        fh.write("# Image list with two lines of data per image:\n")
        fh.write("#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME\n#   POINTS2D[] as (X, Y, POINT3D_ID)\n")
        fh.write(f"# Number of images: {len(imgs)}, mean observations per image: "
                 f"{sum(len(i[5]) for i in imgs) / max(len(imgs), 1):g}\n")
        for image_id, q, t, cam_id, name, obs in imgs:
            pose = " ".join(repr(float(v)) for v in (*q, *t))
            fh.write(f"{image_id} {pose} {cam_id} {name}\n" + " ".join(f"{x!r} {y!r} {p}" for x, y, p in obs) + "\n")
    with open(out / "points3D.txt", "w", encoding="utf-8") as fh:
        fh.write("# 3D point list with one line of data per point:\n")
        fh.write("#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)\n")
        n = len(tracked) + len(pts)
        fh.write(f"# Number of points: {n}, mean track length: {sum(len(p[4]) for p in tracked) / max(n, 1):g}\n")
        for pid, xyz, (r, g, b), err, track in tracked:
            fh.write(f"{pid} {float(xyz[0])!r} {float(xyz[1])!r} {float(xyz[2])!r} {r} {g} {b} {float(err)!r} "
                     + " ".join(f"{i} {j}" for i, j in track) + "\n")
        if len(pts):
            ids = np.arange(1, len(pts) + 1, dtype=np.float64) + len(tracked)  # exact in float64 far beyond any point count
            rows = np.column_stack([ids, pts.xyz.astype(np.float64), pts.rgb, np.zeros(len(pts))])
            np.savetxt(fh, rows, fmt=["%d", "%.9g", "%.9g", "%.9g", "%d", "%d", "%d", "%g"])
