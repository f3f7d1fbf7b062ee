"""Analytic ``Reconstruction``s for importer tests (no model): known cameras, a stepped depth map.

Each frame's depth is a tilted plane with a step (near on the left of column ``W // 2``, 2x farther on
the right), so the depth discontinuity sits between model columns ``W//2 - 1`` and ``W//2``.
"""
from __future__ import annotations

import numpy as np

from vggt_core.reconstruction import FrameInfo, PreprocessRecord, Reconstruction


def look_at_extrinsic(center: np.ndarray, target: np.ndarray, up=(0.0, -1.0, 0.0)) -> np.ndarray:
    """[3, 4] camera-from-world (OpenCV axes) of a camera at ``center`` looking at ``target``."""
    z = np.asarray(target, float) - np.asarray(center, float)
    z /= np.linalg.norm(z)
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    r = np.stack([x, y, z])  # rows: camera axes in world
    return np.concatenate([r, (-r @ np.asarray(center, float))[:, None]], axis=1)


def crop_record(orig_wh: tuple[int, int], model_hw: tuple[int, int], mode: str = "crop") -> PreprocessRecord:
    """Resize so the width matches the model; then centre-crop ("crop") or pad ("pad") the height."""
    (w0, h0), (hm, wm) = orig_wh, model_hw
    if mode == "crop":
        wr, hr = wm, int(round(h0 * wm / w0))
    else:  # pad: fit inside the canvas
        s = min(wm / w0, hm / h0)
        wr, hr = int(round(w0 * s)), int(round(h0 * s))
    return PreprocessRecord(mode=mode, orig_size=(w0, h0), resized_size=(wr, hr),
                            offset=((wm - wr) // 2, (hm - hr) // 2), model_size=(wm, hm))


def make_recon(
    orig_sizes: list[tuple[int, int]],
    model_hw: tuple[int, int] = (28, 42),
    fx_fy: list[tuple[float, float]] | None = None,
    pp_offset: tuple[float, float] = (0.06, -0.04),
    mode: str = "crop",
    video: str | None = None,
    image_paths: list[str] | None = None,
    indices: list[int] | None = None,
    seed: int = 0,
) -> Reconstruction:
    """S = len(orig_sizes) frames orbiting the origin; model intrinsics with focal (fx, fy) in model
    pixels (default varying per frame, fx != fy) and a principal point off centre by ``pp_offset``
    (fractions of the model size). Original intrinsics follow from the PreprocessRecord."""
    rng = np.random.default_rng(seed)
    s = len(orig_sizes)
    hm, wm = model_hw
    fx_fy = fx_fy or [(40.0 + 3 * i, 34.0 + 2 * i) for i in range(s)]
    indices = indices or list(range(s))
    frames, recs, ext, k0, km = [], [], [], [], []
    for i, (w0, h0) in enumerate(orig_sizes):
        ang = 0.35 * i
        center = np.array([2.5 * np.sin(ang), -0.3 * i, -3.0 * np.cos(ang) + 0.2])
        first = np.hstack([np.eye(3), np.zeros((3, 1))])  # frame 0 defines the world, as in VGGT
        ext.append(look_at_extrinsic(center, np.array([0.1, 0.05, 0.3])) if i else first)
        fxm, fym = fx_fy[i]
        kmi = np.array([[fxm, 0, wm / 2 + pp_offset[0] * wm], [0, fym, hm / 2 + pp_offset[1] * hm], [0, 0, 1.0]])
        rec = crop_record((w0, h0), model_hw, mode)
        sx, sy = rec.orig_size[0] / rec.resized_size[0], rec.orig_size[1] / rec.resized_size[1]
        k0i = np.array([[kmi[0, 0] * sx, 0, (kmi[0, 2] - rec.offset[0]) * sx],
                        [0, kmi[1, 1] * sy, (kmi[1, 2] - rec.offset[1]) * sy], [0, 0, 1.0]])
        src = video if video else (image_paths[i] if image_paths else f"/nonexistent/img_{i:04d}.png")
        frames.append(FrameInfo(source=src, index=indices[i], timestamp=(indices[i] / 24.0) if video else None,
                                width=w0, height=h0))
        recs.append(rec)
        km.append(kmi)
        k0.append(k0i)
    ext, km, k0 = (np.asarray(a, np.float32) for a in (ext, km, k0))

    vv, uu = np.mgrid[0:hm, 0:wm].astype(np.float64)
    depth = np.empty((s, hm, wm), np.float32)
    pts = np.empty((s, hm, wm, 3), np.float32)
    valid = np.ones((s, hm, wm), bool)
    for i in range(s):
        d = 2.0 + 0.01 * uu + 0.005 * vv
        d[:, wm // 2:] *= 2.0  # the step
        depth[i] = d
        ray = np.stack([uu + 0.5, vv + 0.5, np.ones_like(uu)], -1) @ np.linalg.inv(km[i].astype(np.float64)).T
        xc = ray * d[..., None]
        r, t = ext[i, :, :3].astype(np.float64), ext[i, :, 3].astype(np.float64)
        pts[i] = (xc - t) @ r
        rec = recs[i]
        ox, oy = rec.offset
        wr, hr = rec.resized_size
        inside = (uu + 0.5 >= ox) & (uu + 0.5 <= ox + wr) & (vv + 0.5 >= oy) & (vv + 0.5 <= oy + hr)
        valid[i] = inside
    conf = (1.0 + rng.exponential(2.0, size=(s, hm, wm))).astype(np.float32)
    return Reconstruction(
        frames=frames, preprocess=recs, extrinsics=ext, intrinsics=k0, intrinsics_model=km,
        depth=depth, depth_conf=conf, world_points=pts.copy(), world_points_conf=conf.copy(),
        points_from_depth=pts, colors=rng.integers(0, 256, size=(s, hm, wm, 3), dtype=np.uint8),
        valid=valid, model_id="synthetic",
    )


def project(k: np.ndarray, ext: np.ndarray, xw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV projection of world points [N, 3]: (pixels [N, 2] continuous convention, depth [N])."""
    xc = xw @ np.asarray(ext[:, :3], float).T + np.asarray(ext[:, 3], float)
    uvw = xc @ np.asarray(k, float).T
    return uvw[:, :2] / uvw[:, 2:3], xc[:, 2]
