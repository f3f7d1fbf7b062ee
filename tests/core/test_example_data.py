"""The bundled example (examples/orbit) is self-consistent ground truth.

Cameras (continuous-convention K, camera-from-world R|t) and z-depth maps must agree with each other
across views and with the images: depth of frame i reprojected into frame j matches frame j's depth,
colours match along those correspondences, and the red landmark sphere appears where the cameras
project it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ORBIT = Path(__file__).resolve().parents[2] / "examples" / "orbit"
PAIRS = [(0, 1), (5, 6), (10, 11), (0, 3), (4, 8)]


@pytest.fixture(scope="module")
def example():
    meta = json.loads((ORBIT / "cameras.json").read_text())
    frames = meta["frames"]
    depth = np.load(ORBIT / "depth.npz")["depth"]
    images = np.stack([np.asarray(Image.open(ORBIT / f["file"]).convert("RGB")) for f in frames])
    K = np.array([f["K"] for f in frames])
    R = np.array([f["R"] for f in frames])
    t = np.array([f["t"] for f in frames])
    return meta, images, depth, K, R, t


def _unproject(depth: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points [N,3] of the finite-depth pixel centres, and their (row, col) indices [N,2]."""
    rows, cols = np.nonzero(np.isfinite(depth))
    z = depth[rows, cols].astype(np.float64)
    rays = np.linalg.solve(K, np.stack([cols + 0.5, rows + 0.5, np.ones_like(z)]))  # continuous: centre at +0.5
    cam = rays * z
    return (R.T @ (cam - t[:, None])).T, np.stack([rows, cols], 1)


def _project(X: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates [N,2] (u, v) and z-depth [N] of world points X [N,3]."""
    cam = R @ X.T + t[:, None]
    uv = (K @ (cam / cam[2]))[:2].T
    return uv, cam[2]


def _bilinear(img: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """img [H,W(,C)] sampled at continuous coordinates uv [N,2]; also returns the 4 corner values."""
    x, y = uv[:, 0] - 0.5, uv[:, 1] - 0.5  # to pixel-centre index space
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    corners = [img[y0, x0], img[y0, x0 + 1], img[y0 + 1, x0], img[y0 + 1, x0 + 1]]
    if img.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    value = (corners[0] * (1 - fx) * (1 - fy) + corners[1] * fx * (1 - fy)
             + corners[2] * (1 - fx) * fy + corners[3] * fx * fy)
    return value, np.stack(corners, 1)


def _correspondences(example, i: int, j: int):
    """Pixels of frame i that are visible in frame j: (rows/cols in i, uv in j, z_j predicted, z_j sampled)."""
    _, _, depth, K, R, t = example
    H, W = depth.shape[1:]
    X, rc = _unproject(depth[i].astype(np.float32), K[i], R[i], t[i])
    uv, z = _project(X, K[j], R[j], t[j])
    inside = (uv[:, 0] > 1) & (uv[:, 0] < W - 1) & (uv[:, 1] > 1) & (uv[:, 1] < H - 1) & (z > 0)
    rc, uv, z = rc[inside], uv[inside], z[inside]
    dj, corners = _bilinear(depth[j].astype(np.float64), uv)
    # smooth neighbourhood in j (no depth edge between the 4 samples), then visible = depth agrees
    smooth = np.isfinite(corners).all(1) & (np.ptp(corners, axis=1) < 0.02 * dj)
    return rc[smooth], uv[smooth], z[smooth], dj[smooth]


def test_files_and_conventions(example):
    meta, images, depth, K, R, t = example
    n = len(meta["frames"])
    assert n == 12 and images.shape == (n, 270, 480, 3) and depth.shape == (n, 270, 480)
    assert depth.dtype == np.float16
    assert 0.2 < np.isinf(depth).mean() < 0.6  # sky
    finite = depth[np.isfinite(depth)]
    assert finite.min() > 1.0 and finite.max() < 20.0
    for f, k, r in zip(meta["frames"], K, R):
        assert (f["width"], f["height"]) == (480, 270)
        np.testing.assert_allclose(k[:2, 2], [240.0, 135.0])  # continuous convention, centred
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)  # float32 matrix_world
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-6)
    centres = np.einsum("nji,nj->ni", R, -t)  # C = -R^T t
    assert (centres[:, 2] > 2.0).all()  # cameras above the ground (Blender world is Z up)


@pytest.mark.parametrize("i,j", PAIRS)
def test_depth_reprojects_consistently(example, i, j):
    rc, uv, z, dj = _correspondences(example, i, j)
    rel = np.abs(z - dj) / dj
    visible = rel < 0.01
    assert visible.mean() > 0.75, f"only {visible.mean():.2f} of frame {i}'s points agree with frame {j}'s depth"
    # float16 depth has a relative step of 2^-11 (4.9e-4): errors must be of that order
    assert np.median(rel[visible]) < 1e-3 and np.percentile(rel[visible], 90) < 2.5e-3


@pytest.mark.parametrize("i,j", PAIRS)
def test_colours_agree_along_correspondences(example, i, j):
    _, images, *_ = example
    rc, uv, z, dj = _correspondences(example, i, j)
    keep = (np.abs(z - dj) < 0.005 * dj) & (uv[:, 0] > 4) & (uv[:, 0] < images.shape[2] - 4)  # room for shifts
    grey = images.astype(np.float64).mean(-1)
    ci = grey[i][rc[keep, 0], rc[keep, 1]]

    def error(shift):
        return np.mean(np.abs(ci - _bilinear(grey[j], uv[keep] + shift)[0]))

    err = error([0.0, 0.0])
    assert err < 5.0 and err < 0.6 * error([3.0, 0.0]), err  # a 3 px error is much worse
    # half a pixel either way (the corner vs continuous convention) is worse too
    assert err < error([-0.5, -0.5]) and err < error([0.5, 0.5])


def test_landmark_projects_onto_the_red_sphere(example):
    meta, images, depth, K, R, t = example
    landmark = meta["landmarks"]["red_sphere"]
    centre, radius = np.array(landmark["xyz"]), landmark["radius"]
    for i in range(len(meta["frames"])):
        uv, z = _project(centre[None], K[i], R[i], t[i])
        X, rc = _unproject(depth[i].astype(np.float32), K[i], R[i], t[i])
        on_sphere = np.linalg.norm(X - centre, axis=1) < radius * 1.05
        assert on_sphere.sum() > 20, f"frame {i}: landmark not visible"
        # the sphere's silhouette is centred on the projected centre (0.5 px off with the corner convention)
        silhouette_centre = (rc[on_sphere][:, ::-1] + 0.5).mean(0)
        assert np.abs(silhouette_centre - uv[0]).max() < 0.25, (i, silhouette_centre, uv[0])
        r, g, b = images[i][rc[on_sphere, 0], rc[on_sphere, 1]].astype(int).T
        assert np.median(r) > 150 and np.median(r - np.maximum(g, b)) > 80, f"frame {i}: landmark pixels not red"
