"""PLY and COLMAP exports read back with independent readers (a numpy PLY parser, pycolmap)."""
from __future__ import annotations

import numpy as np
import pytest

from core_media import make_recon, read_ply
from vggt_core.export.colmap import image_names, rotation_to_quaternion, write_colmap
from vggt_core.export.ply import write_ply
from vggt_core.filters import select_points
from vggt_core.reconstruction import FrameInfo


def test_ply_round_trip(tmp_path):
    pts = select_points(make_recon(), conf_percentile=30)
    v = read_ply(write_ply(tmp_path / "p.ply", pts))
    assert v.dtype.names == ("x", "y", "z", "red", "green", "blue", "confidence")
    np.testing.assert_array_equal(np.stack([v["x"], v["y"], v["z"]], 1), pts.xyz)
    np.testing.assert_array_equal(np.stack([v["red"], v["green"], v["blue"]], 1), pts.rgb)
    np.testing.assert_array_equal(v["confidence"], pts.conf)
    empty = read_ply(write_ply(tmp_path / "e.ply", pts.subset(np.zeros(0, int))))
    assert len(empty) == 0


@pytest.mark.parametrize("seed", range(4))
def test_quaternion(seed):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=4)
    if seed == 3:
        q = np.array([1e-3, 0.0, 1.0, 0.0])  # near 180 degrees: the trace-based formula breaks down
    q /= np.linalg.norm(q)
    q *= np.sign(q[0])
    w, x, y, z = q
    rot = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])
    np.testing.assert_allclose(rotation_to_quaternion(rot), q, atol=1e-12)


def test_image_names_unique():
    frames = [FrameInfo("/a/x.jpg", 0, None, 4, 4), FrameInfo("/v/clip.mp4", 12, 0.4, 4, 4)]
    assert image_names(frames) == ["x.jpg", "clip_000012.png"]
    dup = [FrameInfo("/a/x.jpg", 0, None, 4, 4), FrameInfo("/b/x.jpg", 1, None, 4, 4)]
    assert image_names(dup) == ["00000_x.jpg", "00001_x.jpg"]


@pytest.mark.parametrize("fmt", ["bin", "txt"])
def test_colmap_read_back_with_pycolmap(tmp_path, fmt):
    pycolmap = pytest.importorskip("pycolmap")
    recon = make_recon(frames=3, pad_rows=4)
    pts = select_points(recon, conf_percentile=50, max_points=500)
    out = write_colmap(tmp_path / "sparse", recon, pts, binary=fmt == "bin", text=fmt == "txt")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.{fmt}" for n in ("cameras", "images", "points3D"))
    model = pycolmap.Reconstruction(str(out))
    assert (len(model.cameras), len(model.images), len(model.points3D)) == (3, 3, len(pts))
    for image_id, image in model.images.items():
        s = image_id - 1
        assert image.name == f"img_{s:03d}.jpg"
        cam = model.cameras[image.camera_id]
        assert cam.model.name == "PINHOLE"
        assert (cam.width, cam.height) == (recon.frames[s].width, recon.frames[s].height)
        k = recon.intrinsics[s]
        np.testing.assert_allclose(cam.params, [k[0, 0], k[1, 1], k[0, 2], k[1, 2]], rtol=1e-6)
        np.testing.assert_allclose(image.cam_from_world().matrix(), recon.extrinsics[s], atol=1e-6)
    xyz = np.array([model.points3D[i + 1].xyz for i in range(len(pts))])
    rgb = np.array([model.points3D[i + 1].color for i in range(len(pts))])
    np.testing.assert_allclose(xyz, pts.xyz, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(rgb, pts.rgb)
