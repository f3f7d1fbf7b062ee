"""Synthetic inputs and independent readers for the pipeline tests (images, videos, reconstructions, PLY)."""
from __future__ import annotations

from collections.abc import Collection
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

# ReconstructSettings fields for the network's own output, unsolved (the default run solves): for tests of what
# the network, chunks and caches do, where a solve would only add time or change the cameras under test.
NETWORK_ONLY = {"lens": "per-frame", "refine": "none"}


def gradient_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth, non-symmetric ``H x W x 3`` uint8 image (resampling-friendly, orientation-revealing)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    chans = []
    for _ in range(3):
        a, b, c = rng.uniform(0.5, 3.0, size=3)
        chans.append(127.5 + 120 * np.sin(a * x / width * np.pi + b * y / height * np.pi + c))
    return np.clip(np.rint(np.stack(chans, axis=-1)), 0, 255).astype(np.uint8)


def write_images(folder: Path, names: list[str], size: tuple[int, int] = (64, 48)) -> list[Path]:
    """Write one gradient image per name (format from the extension); image k uses seed k."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, name in enumerate(names):
        path = folder / name
        Image.fromarray(gradient_image(*size, seed=k)).save(path)
        paths.append(path)
    return paths


def frame_level(i: int) -> int:
    """Grey level that identifies video frame ``i`` (0..36; survives lossy coding to within a few levels)."""
    return 7 * i


def write_video(
    path: Path,
    n: int = 30,
    rate: int | Fraction = 10,
    codec: str = "libx264",
    size=(64, 48),
    rotation=None,
    gop: int | None = None,
    drop: Collection[int] = (),
    fmt: str | None = None,
) -> Path:
    """An ``n``-frame video; frame i is grey ``frame_level(i)`` with a white 8x8 marker in the top-left.

    Frame i has timestamp ``i / rate``; the frames in ``drop`` are left out (a gap in the timestamps, as a
    camera or capture that drops frames writes). ``fmt``: container format (e.g. ``"h264"``, a raw stream).
    """
    import av

    w, h = size
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, rate)
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(n):
            if i in drop:
                continue
            img = np.full((h, w, 3), frame_level(i), np.uint8)
            img[:8, :8] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decoded_level(frame: np.ndarray) -> int:
    """The grey level of a decoded synthetic video frame (median ignores the marker)."""
    return int(np.median(frame))


def decoded_index(frame: np.ndarray) -> int:
    """The frame number a decoded synthetic video frame shows (nearest ``frame_level``)."""
    return round(decoded_level(frame) / frame_level(1))


def make_recon(frames: int = 3, h: int = 28, w: int = 42, pad_rows: int = 0, seed: int = 0, tracks: bool = False):
    """A small ``Reconstruction`` with known, distinct array contents (for cache/filter/export tests).

    Built through ``pipeline.assemble`` from analytic camera poses and a depth ramp; confidences are a
    permutation of 1..S*H*W so percentiles are exact; the first ``pad_rows`` rows are marked as padding.
    """
    from vggt_core.run.pipeline import assemble
    from vggt_core.reconstruction import FrameInfo, PreprocessRecord

    rng = np.random.default_rng(seed)
    ang = np.linspace(0, 0.3, frames)
    extr = np.zeros((frames, 3, 4), np.float32)
    for s, a in enumerate(ang):
        extr[s, :, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
        extr[s, :, 3] = [0.1 * s, -0.05 * s, 0.02 * s]
    k_model = np.tile(np.array([[40.0, 0, w / 2], [0, 41.0, h / 2], [0, 0, 1]], np.float32), (frames, 1, 1))
    depth = (1.0 + np.linspace(0, 1, frames * h * w).reshape(frames, h, w)).astype(np.float32)
    conf = (1.0 + rng.permutation(frames * h * w).reshape(frames, h, w)).astype(np.float32)
    rec = PreprocessRecord("pad", (w * 10, (h - pad_rows) * 10), (w, h - pad_rows), (0, pad_rows), (w, h))
    pred = {
        "extrinsic": extr,
        "intrinsic": k_model,
        "depth": depth,
        "depth_conf": conf,
        "world_points": rng.normal(size=(frames, h, w, 3)).astype(np.float32),
        "world_points_conf": conf[::-1].copy(),
    }
    query = None
    if tracks:
        query = rng.uniform(0, w, size=(5, 2)).astype(np.float32)
        pred.update(
            track=rng.uniform(0, w, size=(frames, 5, 2)).astype(np.float32),
            vis=rng.uniform(size=(frames, 5)).astype(np.float32),
            conf=rng.uniform(size=(frames, 5)).astype(np.float32),
        )
    images = rng.integers(0, 256, size=(frames, 3, h, w)).astype(np.float32) / 255
    infos = [FrameInfo(f"/data/shot/img_{i:03d}.jpg", i, None, w * 10, (h - pad_rows) * 10) for i in range(frames)]
    return assemble(infos, [rec] * frames, images, pred, query, "test-model", {"mode": "pad"}, {"model": 1.5})


def read_ply(path: Path) -> np.ndarray:
    """Minimal independent binary-little-endian PLY reader: header -> dtype -> np.frombuffer."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    assert header[0] == "ply" and header[1] == "format binary_little_endian 1.0"
    count = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    types = {"float": "<f4", "uchar": "u1", "double": "<f8", "int": "<i4"}
    fields = [(line.split()[2], types[line.split()[1]]) for line in header if line.startswith("property")]
    vertices = np.frombuffer(data[end:], dtype=np.dtype(fields), count=count)
    assert len(data) == end + count * np.dtype(fields).itemsize  # nothing missing, nothing extra
    return vertices
