"""Tripod (nodal) adjustment: rotations, focal length(s) and (optionally) radial distortion refined about one
fixed camera centre, tracks as unit directions. Robust Gauss-Newton (Cauchy weights, Levenberg damping) with the
directions eliminated by the Schur complement, so each step solves only a ``(3S + F + D)``-sized camera system.

Why not pycolmap: its bundle adjuster cannot hold camera positions fixed while rotations move; with free
positions (even with points pushed far away) its gauge drifts and the cameras regain a parallax they do not
have. Frame 0's rotation is held (the world is the first camera). Pixels: original plate pixels, continuous.
Distortion: COLMAP's radial model ``1 + k1 r^2 (+ k2 r^4)`` on normalised coordinates, one for the shot (as
``adjust.py`` solves it and ``lens_package`` maps it), also under a focal per frame (a zoom).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import Cancelled
from .adjust import CAMERA_MODELS, DISTORTIONS, Adjusted


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


def _residuals(f, c, dist, rot, d, uv, obs_s, obs_n):
    """Residuals ``[O, 2]`` (plate px) of the observations ``(obs_s, obs_n)`` and their camera points ``x [O, 3]``."""
    x = np.einsum("oij,oj->oi", rot[obs_s], d[obs_n])
    n = x[:, :2] / x[:, 2:]
    r2 = np.sum(n**2, axis=1, keepdims=True)
    proj = f[obs_s, None] * n * (1 + dist[0] * r2 + dist[1] * r2**2) + c[obs_s]
    return proj - uv[obs_s, obs_n], x


def nodal_adjust(
    intrinsics: np.ndarray,
    rotations: np.ndarray,
    directions: np.ndarray,
    uv: np.ndarray,
    seen: np.ndarray,
    shared: bool,
    refine_focal: bool = True,
    distortion: str = "none",
    max_error_px: float | np.ndarray = 4.0,
    loss_scale_px: float = 1.0,
    rounds: int = 3,
    iterations: int = 30,
    cancel: Callable[[], bool] | None = None,
) -> Adjusted:
    """Refine ``rotations [S,3,3]`` (world-to-camera; frame 0 held), focal(s), distortion and ``directions [N,3]``
    (unit, world) from observations ``uv [S,N,2]`` where ``seen [S,N]``; square pixels, principal point held.
    shared: one focal for the shot, else one per frame (a zoom). distortion: ``none``, ``k1`` or ``k1k2``, one
    for the shot either way, refined from zero. Returns an ``Adjusted`` with zero translations (the centre is the
    world origin), ``points`` = the directions (unit length), ``distortion`` = ``(k1, k2)`` and ``focal_sd``
    (``_focal_sd``, the distortion marginalised) when the focal is refined. Rejection and loss scale as
    ``adjust.bundle_adjust``."""
    if distortion not in DISTORTIONS:
        raise ValueError(f"unknown distortion {distortion!r}")
    k = np.asarray(intrinsics, np.float64).copy()
    rot = np.asarray(rotations, np.float64).copy()
    d = np.asarray(directions, np.float64)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    seen = np.asarray(seen, bool).copy()
    seen[:, seen.sum(axis=0) < 2] = False
    s_count = seen.shape[0]
    f = np.sqrt(k[:, 0, 0] * k[:, 1, 1])
    c = k[:, :2, 2]
    dist = np.zeros(2)
    layout = Layout(s_count, (1 if shared else s_count) if refine_focal else 0, DISTORTIONS.index(distortion))
    limit = np.broadcast_to(np.asarray(max_error_px, np.float64).reshape(-1), (s_count,))
    rejected = 0
    for _ in range(rounds):
        obs_s, obs_n = np.nonzero(seen)
        lam = 1e-3
        res, x = _residuals(f, c, dist, rot, d, uv, obs_s, obs_n)
        cost = _cost(res, loss_scale_px)
        for _ in range(iterations):
            if cancel is not None and cancel():
                raise Cancelled("camera solve cancelled")
            system = _normal_equations(f, dist, rot, d, res, x, obs_s, obs_n, layout, loss_scale_px)
            step = _solve(*system[:5], lam)
            if step is None:
                lam *= 10
                continue
            dc, dd = step
            new_rot = _rodrigues(dc[layout.rotations].reshape(s_count, 3)) @ rot
            new_f = f + dc[layout.focals] if layout.nf else f
            new_dist = dist.copy()
            new_dist[:layout.nd] += dc[layout.distortion]
            new_d = d + np.einsum("nij,nj->ni", system[5], dd)
            new_d /= np.linalg.norm(new_d, axis=1, keepdims=True)
            new_res, new_x = _residuals(new_f, c, new_dist, new_rot, new_d, uv, obs_s, obs_n)
            new_cost = _cost(new_res, loss_scale_px) if np.all(new_x[:, 2] > 0) else np.inf
            if new_cost < cost:
                done = cost - new_cost < 1e-7 * cost
                rot, f, dist, d, res, x, cost = new_rot, new_f, new_dist, new_d, new_res, new_x, new_cost
                lam = max(lam / 10, 1e-9)
                if done:
                    break
            else:
                lam *= 10
                if lam > 1e8:
                    break
        err = np.full(seen.shape, np.nan)
        err[obs_s, obs_n] = np.where(x[:, 2] > 0, np.linalg.norm(res, axis=1), np.inf)
        bad = seen & ~(err <= limit[:, None])
        rejected += int(bad.sum())
        seen &= ~bad
        seen[:, seen.sum(axis=0) < 2] = False
        if not bad.any():
            break
    obs_s, obs_n = np.nonzero(seen)
    res, x = _residuals(f, c, dist, rot, d, uv, obs_s, obs_n)
    errors = np.full(seen.shape, np.nan)
    errors[obs_s, obs_n] = np.linalg.norm(res, axis=1)
    sd = None
    if layout.nf and len(obs_s):
        system = _normal_equations(f, dist, rot, d, res, x, obs_s, obs_n, layout, loss_scale_px)
        sd = _focal_sd(system, layout, float(np.sqrt(np.mean(errors[seen] ** 2) / 2)), f)
    k[:, 0, 0] = k[:, 1, 1] = f
    ext = np.concatenate([rot, np.zeros((s_count, 3, 1))], axis=2)
    model = CAMERA_MODELS[distortion] if shared or distortion != "none" else "PINHOLE"
    return Adjusted(k, ext, (float(dist[0]), float(dist[1])), d, seen, errors, rejected, model, sd)


class Layout:
    """The camera parameter vector: 3 rotation columns per frame (frame 0's held at zero), then ``nf`` focal
    columns (0, 1 shared or one per frame), then ``nd`` distortion columns (k1, k2; one set for the shot)."""

    def __init__(self, s_count: int, nf: int, nd: int):
        self.s_count, self.nf, self.nd = s_count, nf, nd
        self.size = 3 * s_count + nf + nd
        self.rotations = slice(0, 3 * s_count)
        self.focals = slice(3 * s_count, 3 * s_count + nf)
        self.distortion = slice(3 * s_count + nf, self.size)

    def columns(self, obs_s: np.ndarray) -> np.ndarray:
        """``[O, K]`` the camera columns each observation's Jacobian ``[O, 2, K]`` (``_normal_equations``) fills."""
        cols = [3 * obs_s[:, None] + np.arange(3)]
        if self.nf:
            cols.append(3 * self.s_count + (obs_s[:, None] if self.nf > 1 else np.zeros_like(obs_s)[:, None]))
        cols.append(np.broadcast_to(3 * self.s_count + self.nf + np.arange(self.nd), (len(obs_s), self.nd)))
        return np.concatenate(cols, axis=1)


def jacobians(
    f: np.ndarray, dist: np.ndarray, rot: np.ndarray, d: np.ndarray, x: np.ndarray, obs_s: np.ndarray,
    obs_n: np.ndarray, layout: Layout,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At focals ``f [S]``, distortion ``dist (k1, k2)``, rotations ``rot [S,3,3]``, directions ``d [N,3]`` and the
    observations' camera points ``x [O,3]`` (``_residuals``), analytic Jacobians of the residuals ``[O, 2]``:
    cameras ``[O, 2, K]`` on ``layout.columns`` (rotation as a left perturbation ``R <- exp(w) R``, frame 0's
    zero; focal; k1, k2), directions ``[O, 2, 2]`` on the tangent bases ``[N, 3, 2]`` (also returned: a
    direction moves as ``d + basis @ delta``)."""
    fo = f[obs_s, None, None]
    z = x[:, 2]
    n = x[:, :2] / z[:, None]
    r2 = np.sum(n**2, axis=1)
    s = 1 + dist[0] * r2 + dist[1] * r2**2
    # d proj / d n = f (s I + 2 (k1 + 2 k2 r^2) n n^T); d n / d x = [I | -n] / z
    j_n = fo * (s[:, None, None] * np.eye(2) + (2 * (dist[0] + 2 * dist[1] * r2))[:, None, None]
                * n[:, :, None] * n[:, None, :])
    dn_dx = np.concatenate([np.broadcast_to(np.eye(2), (len(z), 2, 2)), -n[:, :, None]], axis=2) / z[:, None, None]
    dp = j_n @ dn_dx  # d proj / d x [O, 2, 3]
    j_rot = -dp @ _skew(x)  # dX = w x X = -[X]x w
    j_rot[obs_s == 0] = 0.0  # frame 0's rotation is the world
    cols = [j_rot]
    if layout.nf:
        cols.append((n * s[:, None])[:, :, None])
    cols += [(fo[:, 0] * n * r2[:, None] ** (j + 1))[:, :, None] for j in range(layout.nd)]
    basis = _tangent(d)
    return np.concatenate(cols, axis=2), dp @ rot[obs_s] @ basis[obs_n], basis


def _normal_equations(f, dist, rot, d, res, x, obs_s, obs_n, layout: Layout, loss_scale_px: float):
    """The Cauchy-weighted (IRLS) Gauss-Newton system at the current state, kept sparse where it is: camera block
    ``h_cc [P,P]``, ``g_c [P]`` (``Layout``), the camera-direction blocks per observation ``w_cp [O,K,2]`` on its
    camera columns ``cols [O,K]`` (a direction couples only the cameras that see it), direction blocks
    ``h_pp [N,2,2]``, ``g_p [N,2]``, and the directions' tangent bases."""
    p, n_count = layout.size, len(d)
    w = 1.0 / (1.0 + np.sum(res**2, axis=1) / loss_scale_px**2)  # Cauchy IRLS weights
    j_cam, j_dir, basis = jacobians(f, dist, rot, d, x, obs_s, obs_n, layout)
    wc, wd = w[:, None, None] * j_cam, w[:, None, None] * j_dir
    cols = layout.columns(obs_s)
    h_cc = _total(cols[:, :, None] * p + cols[:, None, :], np.einsum("oik,oil->okl", wc, j_cam), p * p).reshape(p, p)
    g_c = _total(cols, np.einsum("oik,oi->ok", wc, res), p)
    w_cp = np.einsum("oik,oiq->okq", wc, j_dir)
    h_pp = _total(obs_n[:, None] * 4 + np.arange(4), np.einsum("oip,oiq->opq", wd, j_dir), n_count * 4).reshape(-1, 2, 2)
    g_p = _total(obs_n[:, None] * 2 + np.arange(2), np.einsum("oip,oi->op", wd, res), n_count * 2).reshape(-1, 2)
    return h_cc, g_c, (w_cp, cols, obs_n), h_pp, g_p, basis


def _total(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``values`` summed into a zero vector of ``size`` at ``index`` (same shapes)."""
    return np.bincount(index.ravel(), values.ravel(), minlength=size)


def _inverse2(m: np.ndarray) -> np.ndarray:
    """Inverses of ``[N, 2, 2]`` matrices in closed form (LAPACK per 2x2 matrix cost 0.5 s per thousand here);
    raises LinAlgError when one is singular."""
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    if not np.all(np.abs(det) > 0):
        raise np.linalg.LinAlgError("singular direction block")
    return np.stack([np.stack([m[:, 1, 1], -m[:, 0, 1]], -1), np.stack([-m[:, 1, 0], m[:, 0, 0]], -1)], -2) / det[:, None, None]


def _reduced(h_cc: np.ndarray, h_cp: tuple, inv: np.ndarray, values_per_chunk: int = 1 << 22) -> np.ndarray:
    """The reduced camera system ``h_cc - sum_n H_n inv_n H_n^T`` [P,P], ``H_n`` [P,2] direction n's camera block
    (``h_cp = (w_cp [O,K,2], cols [O,K], obs_n [O])``, its observations' parts) and ``inv`` [N,2,2].

    The directions go in chunks: a chunk's blocks side by side, ``H`` [P, 2n], scattered from its observations,
    then one matrix product ``(H inv) H^T`` (BLAS), so memory is bounded by ``values_per_chunk`` whatever the
    shot's length (the three-operand einsum it replaced cost 12 s per product on a 300-frame pan)."""
    w_cp, cols, obs_n = h_cp
    p, n_count = h_cc.shape[0], len(inv)
    a = h_cc.copy()
    step = max(1, values_per_chunk // (2 * p))
    for lo in range(0, n_count, step):
        hi = min(lo + step, n_count)
        mine = (obs_n >= lo) & (obs_n < hi)
        h = _total(cols[mine][:, :, None] * (2 * (hi - lo)) + 2 * (obs_n[mine, None, None] - lo) + np.arange(2),
                   w_cp[mine], p * 2 * (hi - lo)).reshape(p, hi - lo, 2)
        a -= np.einsum("pni,nij->pnj", h, inv[lo:hi]).reshape(p, -1) @ h.reshape(p, -1).T
    return a


def _focal_sd(system, layout: Layout, sigma_px: float, f: np.ndarray) -> np.ndarray | None:
    """``[S]`` the focal's standard deviation per frame as a fraction of it: the focal entries of the inverse of
    the reduced camera system (directions and distortion marginalised; frame 0's rotation is the gauge), scaled
    by the noise ``sigma_px`` per axis, as ``adjust.focal_sd`` does for the free solve. None when singular."""
    h_cc, _, h_cp, h_pp, _, _ = system
    try:
        inv = _inverse2(h_pp + 1e-12 * np.eye(2))
        pinned = h_cc + np.diag((np.diag(h_cc) == 0).astype(float))  # frame 0's rotation columns: pinned
        a = _reduced(pinned, h_cp, inv)
        var = np.diag(np.linalg.inv(a))[layout.focals]
    except np.linalg.LinAlgError:
        return None
    sd = np.sqrt(np.maximum(var, 0.0)) * sigma_px
    return np.broadcast_to(sd, (layout.s_count,)) / f


def _cost(res: np.ndarray, scale: float) -> float:
    return float(np.sum(np.log1p(np.sum(res**2, axis=1) / scale**2)))


def _solve(h_cc, g_c, h_cp, h_pp, g_p, lam):
    """One damped step ``(d_cameras [P], d_directions [N,2])`` by the Schur complement, or None if singular."""
    h_pp = h_pp + lam * (np.einsum("nii->ni", h_pp)[..., None] * np.eye(2) + 1e-9 * np.eye(2))
    try:
        inv = _inverse2(h_pp)
    except np.linalg.LinAlgError:
        return None
    diag = np.diag(h_cc).copy()
    a = _reduced(h_cc + np.diag(lam * diag + 1e-9 + (diag == 0)), h_cp, inv)  # frame 0's rotation columns: pinned
    w_cp, cols, obs_n = h_cp
    p = len(g_c)
    b = -g_c + _total(cols, np.einsum("oki,oi->ok", w_cp, np.einsum("nij,nj->ni", inv, g_p)[obs_n]), p)
    try:
        dc = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return None
    back = _total(obs_n[:, None] * 2 + np.arange(2), np.einsum("oki,ok->oi", w_cp, dc[cols]), 2 * len(g_p))
    dd = -np.einsum("nij,nj->ni", inv, g_p + back.reshape(-1, 2))
    return dc, dd
