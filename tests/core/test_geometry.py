"""Camera geometry: quaternions, pose encodings, SE(3) inverses and depth unprojection."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vggt_core.geometry import (
    closed_form_inverse_se3,
    extri_intri_to_pose_encoding,
    mat_to_quat,
    pose_encoding_to_extri_intri,
    quat_to_mat,
    unproject_depth_map_to_point_map,
)


def random_rotations(n: int, seed: int = 0) -> torch.Tensor:
    q = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return quat_to_mat(q)


def test_quat_to_mat_known_rotation_and_scale_invariance():
    s = math.sin(math.pi / 4)
    q = torch.tensor([0.0, 0.0, s, s], dtype=torch.float64)  # 90 degrees about z, XYZW
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(quat_to_mat(q), expected)
    torch.testing.assert_close(quat_to_mat(3.7 * q), expected)  # non-unit quaternions are fine


def test_rotations_are_proper():
    R = random_rotations(50)
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3, dtype=R.dtype).expand(50, 3, 3))
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(50, dtype=R.dtype))


def test_mat_to_quat_round_trip_including_half_turns():
    R = random_rotations(200, seed=1)
    half_turns = torch.diag_embed(torch.tensor([[1.0, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=R.dtype))
    R = torch.cat([R, half_turns, torch.eye(3, dtype=R.dtype)[None]])
    q = mat_to_quat(R)
    torch.testing.assert_close(torch.linalg.norm(q, dim=-1), torch.ones(len(R), dtype=R.dtype))
    assert (q[:, 3] >= 0).all()
    torch.testing.assert_close(quat_to_mat(q), R)


def test_pose_encoding_round_trip_and_intrinsics():
    gen = torch.Generator().manual_seed(2)
    H, W = 140, 182
    quat = torch.randn(2, 3, 4, generator=gen)
    enc = torch.cat([torch.randn(2, 3, 3, generator=gen), quat, torch.rand(2, 3, 2, generator=gen) + 0.5], dim=-1)
    extr, intr = pose_encoding_to_extri_intri(enc, (H, W))
    assert extr.shape == (2, 3, 3, 4) and intr.shape == (2, 3, 3, 3)
    torch.testing.assert_close(intr[..., 0, 0], (W / 2) / torch.tan(enc[..., 8] / 2))
    torch.testing.assert_close(intr[..., 1, 1], (H / 2) / torch.tan(enc[..., 7] / 2))
    assert (intr[..., 0, 2] == W / 2).all() and (intr[..., 1, 2] == H / 2).all() and (intr[..., 2, 2] == 1).all()
    back = extri_intri_to_pose_encoding(extr, intr, (H, W))
    unit = quat / torch.linalg.norm(quat, dim=-1, keepdim=True)
    unit = torch.where(unit[..., 3:] < 0, -unit, unit)
    torch.testing.assert_close(back[..., :3], enc[..., :3])
    torch.testing.assert_close(back[..., 3:7], unit, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(back[..., 7:], enc[..., 7:], atol=1e-5, rtol=1e-5)
    # numpy in -> numpy out, same values
    e_np, i_np = pose_encoding_to_extri_intri(enc.numpy(), (H, W))
    assert isinstance(e_np, np.ndarray)
    np.testing.assert_allclose(e_np, extr.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_closed_form_inverse_se3(backend):
    R = random_rotations(5, seed=3)
    t = torch.randn(5, 3, 1, dtype=R.dtype, generator=torch.Generator().manual_seed(4))
    se3 = torch.cat([R, t], dim=-1)
    x = se3.numpy() if backend == "numpy" else se3
    inv = closed_form_inverse_se3(x)
    full = np.concatenate([se3.numpy(), np.tile([[[0, 0, 0, 1.0]]], (5, 1, 1))], axis=1)
    np.testing.assert_allclose(np.asarray(inv), np.linalg.inv(full), atol=1e-12)
    assert type(inv) is type(x)


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_unproject_reprojects_to_pixels(offset):
    S, H, W = 2, 6, 8
    gen = torch.Generator().manual_seed(5)
    R = random_rotations(S, seed=6).numpy()
    t = np.random.default_rng(0).normal(size=(S, 3, 1))
    extr = np.concatenate([R, t], axis=-1)
    intr = np.array([[[10.0, 0, W / 2], [0, 12.0, H / 2], [0, 0, 1]]] * S)
    depth = (torch.rand(S, H, W, 1, generator=gen) + 0.5).numpy().astype(np.float32)
    pts = unproject_depth_map_to_point_map(depth, extr, intr, pixel_offset=offset)
    assert pts.shape == (S, H, W, 3) and pts.dtype == np.float32
    cam = np.einsum("sij,shwj->shwi", R, pts.astype(np.float64)) + t[:, None, None, :, 0]
    np.testing.assert_allclose(cam[..., 2], depth[..., 0], rtol=1e-5)
    u = cam[..., 0] / cam[..., 2] * 10.0 + W / 2
    v = cam[..., 1] / cam[..., 2] * 12.0 + H / 2
    np.testing.assert_allclose(u, np.broadcast_to(np.arange(W) + offset, (S, H, W)), atol=1e-4)
    np.testing.assert_allclose(v, np.broadcast_to((np.arange(H) + offset)[:, None], (S, H, W)), atol=1e-4)


def test_fixture_cameras_and_unprojection(reference_dir):
    """Geometry of the stored reference outputs reproduces the stored cameras and points."""
    fx = np.load(reference_dir / "fixture_small.npz")
    H, W = fx["input_images"].shape[-2:]
    extr, intr = pose_encoding_to_extri_intri(fx["out_pose_enc"], (H, W))
    np.testing.assert_allclose(extr, fx["out_extrinsic"], atol=1e-5)
    np.testing.assert_allclose(intr, fx["out_intrinsic"], atol=1e-4 * float(np.abs(fx["out_intrinsic"]).max()))
    pts = unproject_depth_map_to_point_map(fx["out_depth"][0], fx["out_extrinsic"][0], fx["out_intrinsic"][0])
    ref = fx["out_world_points_from_depth"][0]
    assert float(np.abs(pts - ref).max()) <= 1e-4 * max(1.0, float(np.abs(ref).max()))


def test_min_fov_keeps_degenerate_cameras_finite():
    from vggt_core.geometry import pose_encoding_to_extri_intri

    enc = np.zeros((2, 9), np.float32)
    enc[:, 6] = 1.0  # identity rotation (w last)
    enc[1, 7:9] = 0.8
    _, raw = pose_encoding_to_extri_intri(enc, (28, 42))
    _, bounded = pose_encoding_to_extri_intri(enc, (28, 42), min_fov=0.01)
    assert np.isinf(raw[0, 0, 0])  # the original maps fov 0 to an infinite focal length
    assert np.isclose(bounded[0, 0, 0], 21.0 / np.tan(0.005), rtol=1e-5)
    assert np.isclose(bounded[0, 1, 1], 14.0 / np.tan(0.005), rtol=1e-5)
    np.testing.assert_allclose(bounded[1], raw[1])  # ordinary cameras are untouched
