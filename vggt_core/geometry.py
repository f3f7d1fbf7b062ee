"""Camera geometry: VGGT pose encodings, SE(3) inverses and depth unprojection.

Conventions: extrinsics are camera-from-world [R | t] with OpenCV camera axes (x right, y down,
z forward); quaternions are XYZW (scalar last); pose encoding = [t (3), quaternion XYZW (4),
fov_h, fov_w (radians)]; intrinsics have the principal point at the image centre (W/2, H/2)
in model pixels. torch is imported lazily (the Blender extension imports this module at enable
time); functions taking numpy arrays return numpy arrays.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


def _to_torch(x: Any) -> tuple["torch.Tensor", bool]:
    import torch

    if isinstance(x, torch.Tensor):
        return x, False
    return torch.as_tensor(np.asarray(x)), True


def quat_to_mat(quat: "torch.Tensor") -> "torch.Tensor":
    """quat [..., 4] XYZW (any non-zero norm) -> rotation matrices [..., 3, 3]."""
    import torch

    x, y, z, w = torch.unbind(quat, dim=-1)
    s = 2.0 / (quat * quat).sum(dim=-1)
    m = torch.stack(
        (
            1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
            s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
            s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
        ),
        dim=-1,
    )  # fmt: skip
    return m.reshape(quat.shape[:-1] + (3, 3))


def mat_to_quat(mat: "torch.Tensor") -> "torch.Tensor":
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] XYZW with w >= 0.

    Computes all four candidate solutions (each dividing by 4x one component) and keeps the one
    whose divisor is largest, which is numerically stable for every rotation.
    """
    import torch

    m = mat
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 * component^2 for w, x, y, z.
    four_sq = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), dim=-1)
    roots = torch.sqrt(torch.clamp(four_sq, min=0.0))  # 2 * |component|
    # Candidate (w, x, y, z) * (4 * component) when that component is the pivot.
    cand = torch.stack(
        (
            torch.stack((roots[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01), dim=-1),
            torch.stack((m21 - m12, roots[..., 1] ** 2, m10 + m01, m02 + m20), dim=-1),
            torch.stack((m02 - m20, m10 + m01, roots[..., 2] ** 2, m12 + m21), dim=-1),
            torch.stack((m10 - m01, m20 + m02, m21 + m12, roots[..., 3] ** 2), dim=-1),
        ),
        dim=-2,
    )
    cand = cand / (2.0 * torch.clamp(roots, min=0.1))[..., None]
    best = roots.argmax(dim=-1)
    wxyz = torch.gather(cand, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    wxyz = wxyz / torch.linalg.norm(wxyz, dim=-1, keepdim=True)
    wxyz = torch.where(wxyz[..., :1] < 0, -wxyz, wxyz)
    return torch.cat((wxyz[..., 1:], wxyz[..., :1]), dim=-1)


def pose_encoding_to_extri_intri(
    pose_enc: Any, image_size_hw: tuple[int, int], min_fov: float = 0.0
) -> tuple[Any, Any]:
    """pose_enc [..., 9] -> (extrinsic [..., 3, 4] camera-from-world, intrinsic [..., 3, 3]).

    fx = (W/2) / tan(fov_w/2), fy = (H/2) / tan(fov_h/2), principal point (W/2, H/2), model pixels.
    min_fov (radians): lower bound for both fields of view. The network's ReLU allows a fov of 0, i.e.
    an infinite focal length; a small positive bound keeps such cameras finite. 0 reproduces the original.
    """
    import torch

    enc, was_numpy = _to_torch(pose_enc)
    H, W = image_size_hw
    extrinsic = torch.cat((quat_to_mat(enc[..., 3:7]), enc[..., :3, None]), dim=-1)
    intrinsic = torch.zeros(enc.shape[:-1] + (3, 3), dtype=enc.dtype, device=enc.device)
    fov_h, fov_w = enc[..., 7], enc[..., 8]
    if min_fov > 0:
        fov_h, fov_w = fov_h.clamp(min=min_fov), fov_w.clamp(min=min_fov)
    intrinsic[..., 0, 0] = (W / 2.0) / torch.tan(fov_w / 2.0)
    intrinsic[..., 1, 1] = (H / 2.0) / torch.tan(fov_h / 2.0)
    intrinsic[..., 0, 2] = W / 2.0
    intrinsic[..., 1, 2] = H / 2.0
    intrinsic[..., 2, 2] = 1.0
    if was_numpy:
        return extrinsic.numpy(), intrinsic.numpy()
    return extrinsic, intrinsic


def extri_intri_to_pose_encoding(extrinsic: Any, intrinsic: Any, image_size_hw: tuple[int, int]) -> Any:
    """Inverse of pose_encoding_to_extri_intri: ([..., 3, 4], [..., 3, 3]) -> [..., 9] float32.

    The quaternion comes out unit-norm with w >= 0.
    """
    import torch

    ext, was_numpy = _to_torch(extrinsic)
    intr, _ = _to_torch(intrinsic)
    H, W = image_size_hw
    fov_h = 2 * torch.atan((H / 2.0) / intr[..., 1, 1])
    fov_w = 2 * torch.atan((W / 2.0) / intr[..., 0, 0])
    enc = torch.cat((ext[..., :3, 3], mat_to_quat(ext[..., :3, :3]), fov_h[..., None], fov_w[..., None]), dim=-1).float()
    return enc.numpy() if was_numpy else enc


def closed_form_inverse_se3(se3: Any) -> Any:
    """Invert rigid transforms [N, 3, 4] or [N, 4, 4] (numpy or torch) -> [N, 4, 4] [[R^T, -R^T t], [0, 1]]."""
    R = se3[:, :3, :3]
    t = se3[:, :3, 3:]
    if isinstance(se3, np.ndarray):
        Rt = np.swapaxes(R, 1, 2)
        out = np.tile(np.eye(4, dtype=se3.dtype), (se3.shape[0], 1, 1))
        out[:, :3, :3] = Rt
        out[:, :3, 3:] = -Rt @ t
        return out
    import torch

    Rt = R.transpose(1, 2)
    out = torch.eye(4, dtype=se3.dtype, device=se3.device).repeat(se3.shape[0], 1, 1)
    out[:, :3, :3] = Rt
    out[:, :3, 3:] = -Rt @ t
    return out


def unproject_depth_map_to_point_map(
    depth: np.ndarray, extrinsic: np.ndarray, intrinsic: np.ndarray, pixel_offset: float = 0.0
) -> np.ndarray:
    """World points [S, H, W, 3] float32 from depth [S, H, W] or [S, H, W, 1].

    Pixel (u, v) (column, row) is placed at (u + pixel_offset, v + pixel_offset): 0.0 reproduces the
    original VGGT demo, 0.5 uses pixel centres (the Reconstruction convention). Camera point
    ((x - cx) d / fx, (y - cy) d / fy, d) is mapped to the world by the inverse extrinsic, computed as
    ``d * (R^T ray) + C``: each frame's rays are turned into the world once ([H, W, 3], float64, built from a
    row and a column by broadcasting), then scaled by the depth, so the temporaries are one frame's whatever the
    shot's length and nothing runs a per-pixel 3x3 product (the einsum it replaced took 12 s for 144 frames).
    """
    depth = np.asarray(depth)
    if depth.ndim == 4:
        depth = depth[..., 0]
    extrinsic = np.asarray(extrinsic, dtype=np.float64)
    intrinsic = np.asarray(intrinsic, dtype=np.float64)
    S, H, W = depth.shape
    u = np.arange(W, dtype=np.float64) + pixel_offset
    v = np.arange(H, dtype=np.float64) + pixel_offset
    world_from_cam = closed_form_inverse_se3(extrinsic)
    out = np.empty((S, H, W, 3), np.float32)
    for s in range(S):
        (fx, _, cx), (_, fy, cy) = intrinsic[s, 0], intrinsic[s, 1]
        rot = world_from_cam[s, :3, :3]  # columns: the camera's x, y and z axes in the world
        rays = ((u - cx) / fx)[None, :, None] * rot[:, 0] + (((v - cy) / fy)[:, None, None] * rot[:, 1] + rot[:, 2])
        out[s] = depth[s][..., None] * rays + world_from_cam[s, :3, 3]
    return out
