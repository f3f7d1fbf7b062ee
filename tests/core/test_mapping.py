"""THE correctness check: model-pixel cameras and depth map back to the original frames exactly.

An analytic scene (random points, ground-truth K and [R|t] in ORIGINAL pixels, off-centre principal point) is
expressed in model pixels the way a perfect VGGT would see it: image positions go through the preprocessing
(resize + crop/pad) and the model-pixel intrinsics are *fitted* to those positions. The pipeline's own
``assemble`` then maps everything back; reprojections must land on the original pixels.
"""
from __future__ import annotations

import numpy as np
import pytest

from vggt_core.run.pipeline import assemble
from vggt_core.plate.preprocess import intrinsics_to_original, pixels_to_model, pixels_to_original, plan, preprocess
from vggt_core.reconstruction import FrameInfo

CASES = [("crop", 1920, 1080), ("pad", 1080, 1920), ("crop", 1080, 1920), ("pad", 1920, 1080)]


def _rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _scene(w: int, h: int, frames: int = 3, seed: int = 0):
    """GT cameras in original pixels (off-centre principal point) looking at a cloud around the origin."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1, 1, size=(200, 3))
    ks, es = [], []
    for _ in range(frames):
        rot = _rotation(rng) if ks else np.eye(3)
        centre = -rot.T @ np.array([0.0, 0.0, 5.0])  # camera 5 units from the origin, looking at it
        f = rng.uniform(0.8, 1.5) * max(w, h)
        k = np.array([[f, 0, w / 2 + rng.uniform(-40, 40)], [0, f * rng.uniform(0.98, 1.02), h / 2 + rng.uniform(-40, 40)], [0, 0, 1]])
        ks.append(k)
        es.append(np.hstack([rot, (-rot @ centre)[:, None]]))
    return points, np.stack(ks), np.stack(es)


def _project(k: np.ndarray, e: np.ndarray, x: np.ndarray) -> np.ndarray:
    cam = x @ e[:, :3].T + e[:, 3]
    uvw = cam @ k.T
    return uvw[:, :2] / uvw[:, 2:]


def _fit_model_intrinsics(cam: np.ndarray, uv_model: np.ndarray) -> np.ndarray:
    """Least-squares fx, cx, fy, cy from camera-frame points and their model-pixel positions."""
    xn, yn = cam[:, 0] / cam[:, 2], cam[:, 1] / cam[:, 2]
    one = np.ones_like(xn)
    fx, cx = np.linalg.lstsq(np.stack([xn, one], 1), uv_model[:, 0], rcond=None)[0]
    fy, cy = np.linalg.lstsq(np.stack([yn, one], 1), uv_model[:, 1], rcond=None)[0]
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])


def _plane_depth(k, e, rec, normal, offset):
    """Model-pixel z-depth of the world plane ``normal . X = offset``, rays cast with the GT original camera ``k``.

    Returns depth [Hm, Wm] and the original-pixel position [Hm, Wm, 2] of every model pixel centre.
    """
    wm, hm = rec.model_size
    centres = np.stack(np.meshgrid(np.arange(wm) + 0.5, np.arange(hm) + 0.5), -1)  # [Hm, Wm, 2]
    uv0 = pixels_to_original(centres, rec)
    rays = np.concatenate([uv0, np.ones(uv0.shape[:-1] + (1,))], -1) @ np.linalg.inv(k).T
    rot, t = e[:, :3], e[:, 3]
    # X = R^T (z * ray - t); solve normal . X = offset for z.
    n_cam = rot @ normal
    z = (offset + normal @ (rot.T @ t)) / (rays @ n_cam)
    return z, uv0


@pytest.mark.parametrize("mode,w,h", CASES)
def test_cameras_and_depth_map_back_to_original_pixels(mode, w, h):
    points, k_orig, extr = _scene(w, h)
    rec = plan(w, h, mode)
    S = len(k_orig)
    k_model = []
    for k, e in zip(k_orig, extr):
        uv0 = _project(k, e, points)
        cam = points @ e[:, :3].T + e[:, 3]
        k_model.append(_fit_model_intrinsics(cam, pixels_to_model(uv0, rec)))
    k_model = np.stack(k_model)

    # 1. The mapping itself, in float64.
    for k, e, km in zip(k_orig, extr, intrinsics_to_original(k_model, [rec] * S)):
        err64 = np.abs(_project(km, e, points) - _project(k, e, points)).max()
        assert err64 < 1e-6, err64

    # 2. Through the pipeline's assembly (float32 Reconstruction) incl. points_from_depth.
    # One tilted plane through the origin region per camera, facing that camera (so all depths are positive).
    tilt, offset = np.array([0.2, -0.3, 0.93]) / np.linalg.norm([0.2, -0.3, 0.93]), 0.1
    normals = [e[:, :3].T @ tilt for e in extr]
    depths, centres0 = [], []
    for k, e, normal in zip(k_orig, extr, normals):
        z, uv0 = _plane_depth(k, e, rec, normal, offset)
        depths.append(z)
        centres0.append(uv0)
    depth = np.stack(depths).astype(np.float32)
    assert (depth > 0).all()
    hm, wm = depth.shape[1:]
    pred = {
        "extrinsic": extr.astype(np.float32),
        "intrinsic": k_model.astype(np.float32),
        "depth": depth[..., None],
        "depth_conf": np.ones_like(depth),
        "world_points": np.zeros(depth.shape + (3,), np.float32),
        "world_points_conf": np.ones_like(depth),
    }
    infos = [FrameInfo(f"/frames/{i}.png", i, None, w, h) for i in range(S)]
    recon = assemble(infos, [rec] * S, np.full((S, 3, hm, wm), 0.5, np.float32), pred)
    assert recon.intrinsics.dtype == np.float32 and recon.model_size == (hm, wm)
    worst = 0.0
    for s in range(S):
        reproj = _project(recon.intrinsics[s].astype(np.float64), recon.extrinsics[s].astype(np.float64), points)
        worst = max(worst, np.abs(reproj - _project(k_orig[s], extr[s], points)).max())
        # Depth points sit on the plane and project onto the original-pixel centres they came from.
        pts = recon.points_from_depth[s].reshape(-1, 3).astype(np.float64)
        assert np.abs(pts @ normals[s] - offset).max() < 1e-4
        uv = _project(k_orig[s], extr[s], pts)
        assert np.abs(uv - centres0[s].reshape(-1, 2)).max() < 0.05
    print(f"{mode} {w}x{h}: float64 mapping error {err64:.2e} px, float32 Reconstruction error {worst:.2e} px")
    assert worst < 0.01  # float32 storage of fx ~ 2000 px limits this to ~1e-4 px


@pytest.mark.parametrize("mode,w,h", [("crop", 1080, 1920), ("pad", 1080, 1920), ("crop", 1920, 1080)])
def test_record_matches_actual_pixels(mode, w, h):
    """A blob drawn at a known original position appears where the record says, after real resizing."""
    u0, v0, sigma = 0.37 * w + 0.3, 0.61 * h + 0.7, 14.0
    y, x = np.mgrid[0:h, 0:w] + 0.5
    blob = np.exp(-((x - u0) ** 2 + (y - v0) ** 2) / (2 * sigma**2))
    img = np.repeat(np.rint(255 * (1 - blob))[..., None], 3, 2).astype(np.uint8)  # dark blob on white
    images, (rec,) = preprocess([img], mode)
    weight = 1 - images[0, 0].astype(np.float64)  # padding is white -> weight 0
    ym, xm = np.mgrid[0 : weight.shape[0], 0 : weight.shape[1]] + 0.5
    centroid = np.array([(weight * xm).sum(), (weight * ym).sum()]) / weight.sum()
    back = pixels_to_original(centroid, rec)
    assert np.abs(back - [u0, v0]).max() < 0.1, (back, (u0, v0))  # measured ~0.01; a half-pixel slip is ~1 px
    # Sanity of the reverse direction through the same record.
    np.testing.assert_allclose(pixels_to_model(back, rec), centroid, atol=1e-9)
