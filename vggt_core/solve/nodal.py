"""Tripod (nodal) adjustment: rotations and focal length(s) refined about one fixed camera centre, tracks as
unit directions. Robust Gauss-Newton (Cauchy weights, Levenberg damping) with the directions eliminated by
the Schur complement, so each step solves only a ``(3S + F)``-sized camera system.

Why not pycolmap: its bundle adjuster cannot hold camera positions fixed while rotations move; with free
positions (even with points pushed far away) its gauge drifts and the cameras regain a parallax they do not
have. Frame 0's rotation is held (the world is the first camera). Pixels: original plate pixels, continuous.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import Cancelled
from .adjust import Adjusted


def _skew(v: np.ndarray) -> np.ndarray:
    """``[..., 3] -> [..., 3, 3]`` cross-product matrices."""
    z = np.zeros(v.shape[:-1])
    return np.stack([np.stack([z, -v[..., 2], v[..., 1]], -1), np.stack([v[..., 2], z, -v[..., 0]], -1),
                     np.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def _rodrigues(w: np.ndarray) -> np.ndarray:
    """``[..., 3]`` rotation vectors -> ``[..., 3, 3]`` rotations."""
    theta = np.linalg.norm(w, axis=-1)[..., None, None]
    k = _skew(w / np.maximum(theta[..., 0], 1e-12))
    return np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * (k @ k)


def _tangent(d: np.ndarray) -> np.ndarray:
    """``[N, 3, 2]`` orthonormal bases of the planes orthogonal to unit directions ``d [N, 3]``."""
    helper = np.where(np.abs(d[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    a = np.cross(d, helper)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    return np.stack([a, np.cross(d, a)], -1)


def _residuals(f, c, rot, d, uv, obs_s, obs_n):
    x = np.einsum("oij,oj->oi", rot[obs_s], d[obs_n])
    z = x[:, 2]
    proj = f[obs_s, None] * x[:, :2] / z[:, None] + c[obs_s]
    return proj - uv[obs_s, obs_n], x, z


def nodal_adjust(
    intrinsics: np.ndarray,
    rotations: np.ndarray,
    directions: np.ndarray,
    uv: np.ndarray,
    seen: np.ndarray,
    shared: bool,
    refine_focal: bool = True,
    max_error_px: float | np.ndarray = 4.0,
    loss_scale_px: float = 1.0,
    rounds: int = 3,
    iterations: int = 30,
    cancel: Callable[[], bool] | None = None,
) -> Adjusted:
    """Refine ``rotations [S,3,3]`` (world-to-camera; frame 0 held), focal(s) and ``directions [N,3]`` (unit,
    world) from observations ``uv [S,N,2]`` where ``seen [S,N]``; square pixels, principal point held.
    Returns an ``Adjusted`` with zero translations (the centre is the world origin) and ``points`` = the
    directions (unit length), and ``focal_sd`` (``_focal_sd``) when the focal is refined. Rejection and loss
    scale as ``adjust.bundle_adjust``."""
    k = np.asarray(intrinsics, np.float64).copy()
    rot = np.asarray(rotations, np.float64).copy()
    d = np.asarray(directions, np.float64)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    seen = np.asarray(seen, bool).copy()
    seen[:, seen.sum(axis=0) < 2] = False
    s_count = seen.shape[0]
    f = np.sqrt(k[:, 0, 0] * k[:, 1, 1])
    c = k[:, :2, 2]
    nf = (1 if shared else s_count) if refine_focal else 0
    limit = np.broadcast_to(np.asarray(max_error_px, np.float64).reshape(-1), (s_count,))
    rejected = 0
    for _ in range(rounds):
        obs_s, obs_n = np.nonzero(seen)
        lam = 1e-3
        res, x, z = _residuals(f, c, rot, d, uv, obs_s, obs_n)
        cost = _cost(res, loss_scale_px)
        for _ in range(iterations):
            if cancel is not None and cancel():
                raise Cancelled("camera solve cancelled")
            h_cc, g_c, h_cp, h_pp, g_p, basis = _normal_equations(f, rot, d, res, x, z, obs_s, obs_n, shared, nf,
                                                                  loss_scale_px)
            step = _solve(h_cc, g_c, h_cp, h_pp, g_p, lam)
            if step is None:
                lam *= 10
                continue
            dc, dd = step
            new_rot = _rodrigues(dc[: 3 * s_count].reshape(s_count, 3)) @ rot
            new_f = f.copy()
            if nf:
                new_f += dc[3 * s_count:] if not shared else dc[3 * s_count]
            new_d = d + np.einsum("nij,nj->ni", basis, dd)
            new_d /= np.linalg.norm(new_d, axis=1, keepdims=True)
            new_res, new_x, new_z = _residuals(new_f, c, new_rot, new_d, uv, obs_s, obs_n)
            new_cost = _cost(new_res, loss_scale_px) if np.all(new_z > 0) else np.inf
            if new_cost < cost:
                done = cost - new_cost < 1e-7 * cost
                rot, f, d, res, x, z, cost = new_rot, new_f, new_d, new_res, new_x, new_z, new_cost
                lam = max(lam / 10, 1e-9)
                if done:
                    break
            else:
                lam *= 10
                if lam > 1e8:
                    break
        err = np.full(seen.shape, np.nan)
        err[obs_s, obs_n] = np.where(z > 0, np.linalg.norm(res, axis=1), np.inf)
        bad = seen & ~(err <= limit[:, None])
        rejected += int(bad.sum())
        seen &= ~bad
        seen[:, seen.sum(axis=0) < 2] = False
        if not bad.any():
            break
    obs_s, obs_n = np.nonzero(seen)
    res, x, z = _residuals(f, c, rot, d, uv, obs_s, obs_n)
    errors = np.full(seen.shape, np.nan)
    errors[obs_s, obs_n] = np.linalg.norm(res, axis=1)
    sd = None
    if nf and len(obs_s):
        system = _normal_equations(f, rot, d, res, x, z, obs_s, obs_n, shared, nf, loss_scale_px)
        sd = _focal_sd(system, nf, s_count, float(np.sqrt(np.mean(errors[seen] ** 2) / 2)), f, shared)
    k[:, 0, 0] = k[:, 1, 1] = f
    ext = np.concatenate([rot, np.zeros((s_count, 3, 1))], axis=2)
    return Adjusted(k, ext, (0.0, 0.0), d, seen, errors, rejected, "SIMPLE_PINHOLE" if shared else "PINHOLE", sd)


def _focal_sd(system, nf: int, s_count: int, sigma_px: float, f: np.ndarray, shared: bool) -> np.ndarray | None:
    """``[S]`` the focal's standard deviation per frame as a fraction of it: the focal entries of the inverse of
    the reduced camera system (directions marginalised; frame 0's rotation is the gauge), scaled by the noise
    ``sigma_px`` per axis, as ``adjust.focal_sd`` does for the free solve. None when the system is singular."""
    h_cc, _, h_cp, h_pp, _, _ = system
    try:
        inv = np.linalg.inv(h_pp + 1e-12 * np.eye(2))
        a = h_cc + np.diag((np.diag(h_cc) == 0).astype(float))  # frame 0's rotation columns: pinned
        a -= np.einsum("npi,nij,nqj->pq", h_cp, inv, h_cp)
        var = np.diag(np.linalg.inv(a))[3 * s_count:]
    except np.linalg.LinAlgError:
        return None
    sd = np.sqrt(np.maximum(var, 0.0)) * sigma_px
    return np.broadcast_to(sd, (s_count,)) / f if shared else sd / f


def _normal_equations(f, rot, d, res, x, z, obs_s, obs_n, shared: bool, nf: int, loss_scale_px: float):
    """The Cauchy-weighted (IRLS) Gauss-Newton system at the current state: camera block ``h_cc [P,P]``, ``g_c [P]``
    (3 rotation columns per frame, frame 0's zero, then ``nf`` focal columns), camera-direction blocks
    ``h_cp [N,P,2]``, direction blocks ``h_pp [N,2,2]``, ``g_p [N,2]`` and the directions' tangent bases."""
    s_count, n_count = len(rot), len(d)
    p = 3 * s_count + nf
    w = 1.0 / (1.0 + np.sum(res**2, axis=1) / loss_scale_px**2)  # Cauchy IRLS weights
    dp = f[obs_s, None, None] / z[:, None, None] * np.stack(
        [np.stack([np.ones_like(z), np.zeros_like(z), -x[:, 0] / z], -1),
         np.stack([np.zeros_like(z), np.ones_like(z), -x[:, 1] / z], -1)], 1)  # [O,2,3]
    j_rot = -dp @ _skew(x)  # left perturbation R <- exp(w) R: dX = w x X = -[X]x w
    basis = _tangent(d)
    j_dir = dp @ rot[obs_s] @ basis[obs_n]  # [O,2,2]
    wj = w[:, None, None]
    j_rot[obs_s == 0] = 0.0  # frame 0's rotation is the world
    h_cc = np.zeros((p, p))
    blocks = np.zeros((s_count, 3, 3))
    np.add.at(blocks, obs_s, np.einsum("oip,oiq->opq", wj * j_rot, j_rot))
    for s in range(s_count):
        h_cc[3 * s:3 * s + 3, 3 * s:3 * s + 3] = blocks[s]
    g_c = np.zeros(p)
    np.add.at(g_c, 3 * obs_s[:, None] + np.arange(3), np.einsum("oip,oi->op", wj * j_rot, res))
    h_cp = np.zeros((n_count, p, 2))
    rot_dir = np.einsum("oip,oiq->opq", wj * j_rot, j_dir)  # [O,3,2]
    for i in range(3):
        np.add.at(h_cp, (obs_n, 3 * obs_s + i), rot_dir[:, i])
    if nf:
        j_f = x[:, :2] / z[:, None]  # [O,2]
        fcol = 3 * s_count + (np.zeros_like(obs_s) if shared else obs_s)
        np.add.at(h_cc, (fcol, fcol), w * np.sum(j_f**2, axis=1))
        rf = np.einsum("oip,oi->op", wj * j_rot, j_f)  # [O,3]
        for i in range(3):
            np.add.at(h_cc, (3 * obs_s + i, fcol), rf[:, i])
            np.add.at(h_cc, (fcol, 3 * obs_s + i), rf[:, i])
        np.add.at(g_c, fcol, w * np.sum(j_f * res, axis=1))
        np.add.at(h_cp, (obs_n, fcol), np.einsum("oi,oiq->oq", w[:, None] * j_f, j_dir))
    h_pp = np.zeros((n_count, 2, 2))
    np.add.at(h_pp, obs_n, np.einsum("oip,oiq->opq", wj * j_dir, j_dir))
    g_p = np.zeros((n_count, 2))
    np.add.at(g_p, obs_n, np.einsum("oip,oi->op", wj * j_dir, res))
    return h_cc, g_c, h_cp, h_pp, g_p, basis


def _cost(res: np.ndarray, scale: float) -> float:
    return float(np.sum(np.log1p(np.sum(res**2, axis=1) / scale**2)))


def _solve(h_cc, g_c, h_cp, h_pp, g_p, lam):
    """One damped step ``(d_cameras [P], d_directions [N,2])`` by the Schur complement, or None if singular."""
    h_pp = h_pp + lam * (np.einsum("nii->ni", h_pp)[..., None] * np.eye(2) + 1e-9 * np.eye(2))
    try:
        inv = np.linalg.inv(h_pp)
    except np.linalg.LinAlgError:
        return None
    diag = np.diag(h_cc).copy()
    a = h_cc + np.diag(lam * diag + 1e-9 + (diag == 0))  # frame 0's rotation columns are zero: pin them
    a -= np.einsum("npi,nij,nqj->pq", h_cp, inv, h_cp)
    b = -g_c + np.einsum("npi,nij,nj->p", h_cp, inv, g_p)
    try:
        dc = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return None
    dd = -np.einsum("nij,nj->ni", inv, g_p + np.einsum("npi,p->ni", h_cp, dc))
    return dc, dd
