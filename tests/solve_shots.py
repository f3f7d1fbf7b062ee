"""Synthetic camera-solve shots with ground truth (tests and bench only; the product never sees ground truth).

A shot: 16:9 plate, one lens (square pixels, centred principal point; pinhole, or COLMAP's radial distortion
``1 + k1 r^2 + k2 r^4`` on normalised coordinates), a camera path, 3D points in
front of it and their tracks (``uv [S, N, 2]`` pixels, ``seen [S, N]``) with Gaussian noise and a share of
gross outliers; plus a start perturbed like VGGT's errors (rotations off by a few degrees, focal +-10 % with
per-frame jitter, camera centres off by a little). Frame 0 stays the world, as in VGGT.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from synth_recon import look_at_extrinsic, make_recon

KINDS = ("dolly", "orbit", "handheld", "tripod", "pushin")


def rotation(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues: 3x3 rotation for a rotation vector (radians)."""
    theta = float(np.linalg.norm(rotvec))
    if theta < 1e-12:
        return np.eye(3)
    k = np.asarray(rotvec, float) / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * kx @ kx


@dataclass
class Shot:
    kind: str
    size: tuple[int, int]  # (W, H)
    k: np.ndarray  # [3,3] true intrinsics (frame 0's on a zoom)
    extrinsics: np.ndarray  # [S,3,4] true, world = first camera
    points: np.ndarray  # [N,3] true
    uv: np.ndarray  # [S,N,2] observed pixels (noise + outliers)
    seen: np.ndarray  # [S,N]
    outlier: np.ndarray  # [S,N] which observations are gross outliers
    k_start: np.ndarray  # [S,3,3] perturbed
    extrinsics_start: np.ndarray  # [S,3,4] perturbed
    query: np.ndarray  # [N] the frame each track was queried on (it sees the point exactly there)
    focals: np.ndarray  # [S] true focal length per frame (px): constant unless the shot zooms
    k1: float = 0.0  # true radial distortion (COLMAP's, normalised coordinates), one for the shot
    k2: float = 0.0
    trajectory: np.ndarray | None = None  # [S,N,3] where each point is on each frame (a mover); None: static

    @property
    def ks(self) -> np.ndarray:
        """[S,3,3] true intrinsics per frame."""
        ks = np.repeat(self.k[None], len(self.focals), axis=0)
        ks[:, 0, 0] = ks[:, 1, 1] = self.focals
        return ks

    @property
    def positions(self) -> np.ndarray:
        """[S,N,3] where each track's point is at each frame (world)."""
        if self.trajectory is not None:
            return self.trajectory
        return np.broadcast_to(self.points, (len(self.extrinsics), *self.points.shape))

    @property
    def centers(self) -> np.ndarray:
        return np.einsum("sji,sj->si", self.extrinsics[:, :, :3], -self.extrinsics[:, :, 3])


def _path(kind: str, frames: int, rng: np.random.Generator) -> np.ndarray:
    t = np.linspace(0.0, 1.0, frames)
    out = []
    for i, u in enumerate(t):
        if kind == "dolly":  # lateral track of 4 units, panning 12 degrees to follow the action
            c = np.array([4.0 * u, 0.0, 0.0])
            e = look_at_extrinsic(c, np.array([2.0 + 2.0 * u, 0.3, 10.0]))
        elif kind == "orbit":  # 50 degree arc at radius 8 around the scene centre
            a = np.radians(-25 + 50 * u)
            c = np.array([8 * np.sin(a), -0.5, 10 - 8 * np.cos(a)])
            e = look_at_extrinsic(c, np.array([0.0, 0.0, 10.0]))
        elif kind == "tripod":  # nodal pan of 50 degrees with a little tilt: one fixed camera centre
            a = np.radians(-25 + 50 * u)
            e = look_at_extrinsic(np.zeros(3), np.array([10 * np.sin(a), 0.5 * np.sin(2 * a), 10 * np.cos(a)]))
        elif kind == "pushin":  # slow push-in: 0.8 units towards a scene 5-16 away, a slight drift; little parallax
            c = np.array([0.05 * np.sin(2 * u), 0.03 * u, 0.8 * u])
            e = look_at_extrinsic(c, np.array([0.1 * u, 0.0, 10.0]))
        else:  # handheld push-in: 3 units forward, a slow drift and shake of about a degree
            c = np.array([0.2 * np.sin(3 * u), 0.1 * np.sin(5 * u), 3.0 * u])
            e = look_at_extrinsic(c, np.array([0.0, 0.0, 10.0]))
            shake = rotation(np.radians(0.6) * np.sin(np.array([7.0, 11.0, 5.0]) * u * 6.28 + i * 0.1))
            e = np.concatenate([shake @ e[:, :3], (shake @ e[:, 3])[:, None]], axis=1)
        out.append(e)
    ext = np.array(out)
    # Re-express in the first camera's frame: VGGT's world.
    r0, t0 = ext[0, :, :3], ext[0, :, 3]
    world = np.empty_like(ext)
    world[:, :, :3] = ext[:, :, :3] @ r0.T
    world[:, :, 3] = ext[:, :, 3] - world[:, :, :3] @ t0
    return world


def project(k: np.ndarray, ext: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels [S,N,2] and depths [S,N] of ``points`` [N,3] through cameras ``k`` [3,3] (or [S,3,3]), ``ext`` [S,3,4]."""
    cam = np.einsum("sij,nj->sni", ext[:, :, :3], points) + ext[:, None, :, 3]
    ks = np.broadcast_to(k, (len(ext), 3, 3))
    h = np.einsum("sij,snj->sni", ks, cam)
    return h[..., :2] / h[..., 2:3], cam[..., 2]


def distort(ks: np.ndarray, uv: np.ndarray, k1: float, k2: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole pixels ``uv [S, N, 2]`` through cameras ``ks [S,3,3]`` -> the pixels a lens with COLMAP's radial
    distortion ``1 + k1 r^2 + k2 r^4`` (normalised coordinates; k1 < 0: barrel, a wide lens) puts them at, and
    ``[S, N]`` whether the lens images them: within the radius where the distorted radius still grows (beyond
    it the polynomial folds rays from far outside the field of view back into the frame; no lens does)."""
    if not (k1 or k2):
        return uv, np.ones(uv.shape[:2], bool)
    f, c = ks[:, None, 0, 0, None], ks[:, None, :2, 2]
    xy = (uv - c) / f
    r2 = np.sum(xy**2, axis=-1, keepdims=True)
    roots = np.roots([5 * k2, 3 * k1, 1.0])  # d(r (1 + k1 r^2 + k2 r^4)) / dr = 0 at r^2 = root
    fold = min([x.real for x in roots if abs(x.imag) < 1e-12 and x.real > 0], default=np.inf)
    return c + f * xy * (1 + k1 * r2 + k2 * r2**2), r2[..., 0] < fold


def make_shot(
    kind: str, frames: int = 24, tracks: int = 500, noise_px: float = 0.5, outliers: float = 0.1, seed: int = 0,
    size: tuple[int, int] = (1920, 1080), focal_px: float = 1500.0, rot_err_deg: float = 2.0,
    focal_err: float = 0.1, focal_jitter: float = 0.02, query_frames: int = 1, zoom: float = 1.0,
    snap: bool = False, k1: float = 0.0, k2: float = 0.0, focal_rho: float = 0.0,
) -> Shot:
    """A shot of ``kind`` (dolly, orbit, handheld, tripod, pushin). noise_px: Gaussian sigma per image axis; outliers: share of
    observations moved 10-60 px; the start has rotations off by ``rot_err_deg`` (sigma per axis), focal off by
    up to ``focal_err`` (one factor) times ``focal_jitter`` per frame (``focal_noise``: correlated from frame to
    frame by ``focal_rho``), centres off by 1 % of the scene depth.
    query_frames: points are placed in the views of this many frames spread over the shot (as the product's
    track queries are), so a pan's last frames see tracks too. zoom: the focal at the end over the focal at
    the start, eased in and out over the shot, or (``snap``) one step between two frames at mid-shot; the
    start's focal follows the true one per frame (VGGT sees the zoom), with its error and jitter. k1, k2: the
    lens' radial distortion (``distort``; the start knows none, as VGGT's pinhole cameras do not)."""
    rng = np.random.default_rng(seed)
    w, h = size
    k = np.array([[focal_px, 0, w / 2], [0, focal_px, h / 2], [0, 0, 1.0]])
    focals = focal_px * zoom_curve(frames, zoom, snap)
    ks = np.repeat(k[None], frames, axis=0)
    ks[:, 0, 0] = ks[:, 1, 1] = focals
    ext = _path(kind, frames, rng)
    # Points in front of the first camera, spread in depth so focal and depth are separable.
    depth = rng.uniform(5.0, 16.0, tracks)
    pix = rng.uniform([0, 0], [w, h], (tracks, 2))
    query = np.rint(np.linspace(0, frames - 1, query_frames)).astype(np.int64)[np.arange(tracks) % query_frames]
    cam = np.c_[(pix - k[:2, 2]) / focals[query, None] * depth[:, None], depth]
    points = np.einsum("nji,nj->ni", ext[query, :, :3], cam - ext[query, :, 3])  # into the world
    uv, z = project(ks, ext, points)
    uv, imaged = distort(ks, uv, k1, k2)
    seen = (z > 0.1) & imaged & np.all((uv >= 0) & (uv <= [w, h]), axis=2)
    uv = uv + rng.normal(0.0, noise_px, uv.shape)
    outlier = seen & (rng.random(seen.shape) < outliers)
    outlier[query, np.arange(tracks)] = False  # the query frame sees its own queries exactly, as the track head does
    ang = rng.uniform(0, 2 * np.pi, outlier.sum())
    uv[outlier] += np.c_[np.cos(ang), np.sin(ang)] * rng.uniform(10, 60, outlier.sum())[:, None]
    k_start = ks.copy()
    scale = (1 + rng.uniform(-focal_err, focal_err)) * (1 + focal_noise(rng, frames, focal_jitter, focal_rho))
    k_start[:, 0, 0] *= scale
    k_start[:, 1, 1] *= scale
    start = ext.copy()
    for s in range(1, frames):
        r = rotation(rng.normal(0, np.radians(rot_err_deg), 3))
        c = -ext[s, :, :3].T @ ext[s, :, 3] + rng.normal(0, 0.1, 3)
        start[s, :, :3] = r @ ext[s, :, :3]
        start[s, :, 3] = -start[s, :, :3] @ c
    return Shot(kind, size, k, ext, points, uv, seen, outlier, k_start, start, query, focals, k1, k2)


def zoom_curve(frames: int, zoom: float = 1.0, snap: bool = False) -> np.ndarray:
    """``[frames]`` the focal over frame 0's: ``zoom`` at the end, eased in and out over the shot, or (``snap``) one
    step between two frames at mid-shot."""
    t = np.linspace(0.0, 1.0, frames)
    return zoom ** ((t >= 0.5).astype(float) if snap else 0.5 - 0.5 * np.cos(np.pi * t))


def focal_noise(rng: np.random.Generator, frames: int, sd: float, rho: float = 0.0) -> np.ndarray:
    """``[frames]`` relative per-frame focal errors as VGGT's: Gaussian, ``sd`` on every frame, an AR(1) series with
    lag-one correlation ``rho`` (0: independent frames; near 1: a slow random drift that looks like a zoom)."""
    e = rng.normal(0.0, sd, frames)
    for i in range(1, frames):
        e[i] = rho * e[i - 1] + np.sqrt(1 - rho**2) * e[i]
    return e


def vggt_focal(seed: int, frames: int = 40, zoom: float = 1.0, snap: bool = False, sd: float = 0.05,
               rho: float = 0.0, focal_px: float = 500.0) -> np.ndarray:
    """``[frames]`` a VGGT-like per-frame focal (px) alone, for decisions made on it: ``focal_px`` through
    ``zoom_curve``, one factor off by up to 10 %, ``sd`` per frame (``focal_noise``, AR(1) ``rho``), and on every
    fifth seed one wild frame 30 % off."""
    rng = np.random.default_rng(seed)
    f = focal_px * zoom_curve(frames, zoom, snap) * (1 + rng.uniform(-0.1, 0.1))
    f *= 1 + focal_noise(rng, frames, sd, rho)
    if seed % 5 == 0:
        f[rng.integers(frames)] *= 1.3
    return f


def rotation_errors_deg(est: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Angle (degrees) between the rotations of ``est`` and ``true`` [S,3,4] camera-from-world. From sine and
    cosine both (``arctan2``): the arccos of the trace alone cannot resolve angles under ~0.02 degrees from
    float32 cameras (its cosine is 1 - 6e-8 there)."""
    rel = est[:, :, :3].astype(np.float64) @ np.transpose(true[:, :, :3], (0, 2, 1))
    sin = 0.5 * np.linalg.norm(np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0],
                                         rel[:, 1, 0] - rel[:, 0, 1]], axis=1), axis=1)
    return np.degrees(np.arctan2(sin, (np.trace(rel, axis1=1, axis2=2) - 1) / 2))


def center_errors(est: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Camera-centre errors as a fraction of the true path length, after the best scale (both worlds are the
    first camera's frame, so only scale is free)."""
    c_est = np.einsum("sji,sj->si", est[:, :, :3], -est[:, :, 3])
    c_true = np.einsum("sji,sj->si", true[:, :, :3], -true[:, :, 3])
    scale = np.sum(c_est * c_true) / np.sum(c_est * c_est)
    path = np.sum(np.linalg.norm(np.diff(c_true, axis=0), axis=1))
    return np.linalg.norm(scale * c_est - c_true, axis=1) / path


def shot_recon(shot: Shot, model_hw: tuple[int, int] = (294, 518)):
    """A ``Reconstruction`` whose cameras are the shot's perturbed start, whose tracks (continuous model pixels)
    are its observations and whose depth is ``vggt_depth``'s: what the solve gets from VGGT.
    model_hw: the network canvas; the default is the real one for a 16:9 plate, so tolerances stated in model
    pixels mean here what they mean in the product."""
    from vggt_core.plate.preprocess import intrinsics_to_model, pixels_to_model

    s = len(shot.extrinsics)
    recon = make_recon([shot.size] * s, model_hw, video="/nonexistent/plate.mov")
    k = shot.k_start.astype(np.float32)
    tracks = np.stack([pixels_to_model(shot.uv[i], r) for i, r in enumerate(recon.preprocess)]).astype(np.float32)
    depth = vggt_depth(shot, recon.preprocess, recon.depth.shape[1:])
    return replace(recon, depth=depth, extrinsics=shot.extrinsics_start.astype(np.float32), intrinsics=k,
                   intrinsics_model=intrinsics_to_model(k, recon.preprocess).astype(np.float32), tracks=tracks,
                   track_vis=shot.seen.astype(np.float32), track_conf=np.ones(shot.seen.shape, np.float32),
                   query_points=tracks[shot.query, np.arange(len(shot.query))],
                   query_frames=shot.query.astype(np.int32))


def vggt_depth(shot: Shot, records, model_hw: tuple[int, int], noise: float = 0.03, level: float = 0.05,
               radius: float = 2.0) -> np.ndarray:
    """[S, Hm, Wm] float32 depth maps on the model canvas, as VGGT predicts them: each frame sees every point
    where it is at that frame (a mover too), as a disc of ``radius`` model px (the nearest in front), the rest
    of the canvas at the frame's median depth. The disc sits where the plate shows the point: its observation
    (a lens distortion put on ``uv`` moves it too), or its projection where the track is an outlier or unseen.
    VGGT-like errors: each frame's scale off by ``level`` (sigma, relative) and each point's depth by ``noise``
    (sigma, relative, drawn per frame)."""
    from vggt_core.plate.preprocess import pixels_to_model

    hm, wm = model_hw
    rng = np.random.default_rng(len(shot.points))
    r = int(radius)
    dv, du = np.mgrid[-r:r + 1, -r:r + 1]
    disc = du**2 + dv**2 <= radius**2
    du, dv = du[disc], dv[disc]
    out = np.empty((len(records), hm, wm), np.float32)
    for s, (rec, pos) in enumerate(zip(records, shot.positions)):
        uv, z = project(shot.ks[s], shot.extrinsics[s:s + 1], pos)
        shown = shot.seen[s] & ~shot.outlier[s]
        uv = np.where(shown[:, None], shot.uv[s], uv[0])
        m, z = pixels_to_model(uv, rec), z[0] * (1 + rng.normal(0.0, noise, len(pos)))
        ok = (z > 0.1) & np.all((m >= 0) & (m < [wm, hm]), axis=1)
        x = np.floor(m[ok, 0]).astype(int)[:, None] + du
        y = np.floor(m[ok, 1]).astype(int)[:, None] + dv
        inside = (x >= 0) & (x < wm) & (y >= 0) & (y < hm)
        flat = np.full(hm * wm, np.inf)
        np.minimum.at(flat, (y * wm + x)[inside], np.broadcast_to(z[ok, None], x.shape)[inside])
        flat[np.isinf(flat)] = np.median(z[ok]) if ok.any() else 1.0
        out[s] = (flat * (1 + rng.normal(0.0, level))).reshape(hm, wm)
    return out


def true_uv(shot: Shot) -> np.ndarray:
    """[S, N, 2] the exact plate pixels (continuous, centres at +0.5) of the shot's points through its lens: no noise."""
    return distort(shot.ks, project(shot.ks, shot.extrinsics, shot.points)[0], shot.k1, shot.k2)[0]


def head_tracked(shot: Shot, recon):
    """``recon`` (e.g. ``shot_recon``) with its tracks made the product's way: ``Engine.predict`` on a stand-in
    of the track head queried at the true frame-0 points. The stand-in answers in the head's own convention
    (pixel centres at integers): the queries it was given on the query frame, the true projections elsewhere.
    It checks our side of that contract only, and asserts the queries reached it in that convention."""
    import torch

    from vggt_core.network.engine import Engine
    from vggt_core.plate.preprocess import pixels_to_model

    truth = np.stack([pixels_to_model(t, r) for t, r in zip(true_uv(shot), recon.preprocess)])  # continuous
    head_tracks = torch.from_numpy((truth - 0.5).astype(np.float32))

    class HeadStandIn(torch.nn.Module):
        def forward(self, images, queries, callback=None, frames_chunk_size=1, query_frames=None):
            queries = queries.reshape(-1, 2)
            np.testing.assert_allclose(queries.numpy(), truth[0] - 0.5, atol=1e-4)
            s, _, h, w = images.shape
            track = head_tracks.clone()
            track[0] = queries
            zeros, ones = torch.zeros(1, s, h, w), torch.ones(1, s, track.shape[1])
            return {"pose_enc": torch.zeros(1, s, 9), "depth": torch.ones(1, s, h, w, 1), "depth_conf": zeros,
                    "world_points": torch.zeros(1, s, h, w, 3), "world_points_conf": zeros,
                    "track": track[None], "vis": ones, "conf": ones}

    wm, hm = recon.preprocess[0].model_size
    out = Engine.from_model(HeadStandIn(), device="cpu", dtype="fp32").predict(
        np.zeros((len(recon.frames), 3, hm, wm), np.float32), truth[0].astype(np.float32))
    return replace(recon, tracks=out["track"], track_vis=out["vis"], track_conf=out["conf"],
                   query_points=truth[0].astype(np.float32), query_frames=None)
