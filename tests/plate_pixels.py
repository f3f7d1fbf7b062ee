"""Plates with real pixels and known motion, for the plate refinement of tracks (tests and bench only).

The texture is analytic (a sum of sinusoids, band-limited: every wavelength at least 4 plate pixels once imaged),
so a plate is rendered exactly by evaluating it at each pixel centre: no resampling error hides in the ground
truth. Two kinds of plate:

* ``warp_plate``: a textured plane seen through a homography (plate pixel -> texture), optionally through COLMAP's
  radial distortion ``1 + k1 r^2`` (the plate's pixels are the distorted ones), with film grain;
* ``PlateScene``: a few textured planes at different depths ray-cast through pinhole cameras (a room with cards in
  it), with the 3D point under any plate pixel and whether a camera sees it: a shot a camera solve can run on.

Pixels are continuous (``vggt_core.reconstruction``): pixel ``(i, j)`` has its centre at ``(i + 0.5, j + 0.5)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def texture(t: np.ndarray, seed: int = 0, shortest: float = 6.0, longest: float = 60.0, waves: int = 24) -> np.ndarray:
    """``[...]`` grey in about [0.15, 0.85] at texture coordinates ``t [..., 2]``: ``waves`` sinusoids of random
    direction, wavelength (``shortest`` to ``longest`` texture units, log-uniform) and phase."""
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0.0, np.pi, waves)
    lam = np.exp(rng.uniform(np.log(shortest), np.log(longest), waves))
    phase = rng.uniform(0.0, 2 * np.pi, waves)
    amp = rng.uniform(0.5, 1.0, waves)
    freq = (2 * np.pi / lam)[:, None] * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    u, v = (np.asarray(t[..., i], np.float32) for i in (0, 1))  # float32: 1e-4 px of phase at 4K, twice as fast
    out = np.zeros(t.shape[:-1], np.float32)
    for f, p, a in zip(freq.astype(np.float32), phase.astype(np.float32), amp.astype(np.float32)):
        out += a * np.sin(u * f[0] + v * f[1] + p)
    return 0.5 + 0.35 * out.astype(np.float64) / np.sqrt(0.5 * np.sum(amp**2)) / 3.0


def to_plate(grey: np.ndarray, grain: float = 0.0, seed: int = 0) -> np.ndarray:
    """``[H, W]`` grey in [0, 1] -> ``H x W x 3`` uint8 sRGB, with Gaussian film grain of ``grain`` 8-bit levels."""
    v = grey * 255.0
    if grain:
        v = v + np.random.default_rng(seed).normal(0.0, grain, v.shape)
    return np.repeat(np.clip(np.rint(v), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def pixel_centres(size: tuple[int, int]) -> np.ndarray:
    """``[H, W, 2]`` continuous coordinates of every pixel centre of a ``(W, H)`` plate."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    return np.stack([x, y], axis=-1)


def apply_h(h: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Points ``p [..., 2]`` through the homography ``h [3, 3]``."""
    q = p @ h[:, :2].T + h[:, 2]
    return q[..., :2] / q[..., 2:3]


def distort(p: np.ndarray, size: tuple[int, int], focal: float, k1: float) -> np.ndarray:
    """Pinhole plate pixels ``p [..., 2]`` -> where COLMAP's radial ``1 + k1 r^2`` (normalised coordinates, about
    the plate centre) puts them."""
    c = np.array(size, np.float64) / 2
    xy = (p - c) / focal
    return c + focal * xy * (1 + k1 * np.sum(xy**2, axis=-1, keepdims=True))


def undistort(p: np.ndarray, size: tuple[int, int], focal: float, k1: float) -> np.ndarray:
    """Inverse of ``distort`` (fixed-point iteration; exact to 1e-10 px for a moderate ``k1``)."""
    c = np.array(size, np.float64) / 2
    d = (p - c) / focal
    xy = d.copy()
    for _ in range(50):
        xy = d / (1 + k1 * np.sum(xy**2, axis=-1, keepdims=True))
    return c + focal * xy


def warp_plate(size: tuple[int, int], h: np.ndarray, seed: int = 0, grain: float = 0.0, focal: float = 0.0,
               k1: float = 0.0, blank: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """A ``(W, H)`` plate of the textured plane: plate pixel ``p`` shows texture at ``h @ p`` (``p`` undistorted
    first when ``k1``: the plate's pixels are the lens's distorted ones). blank: a texture-space box
    ``(u0, v0, u1, v1)`` painted flat grey (a blank wall)."""
    p = pixel_centres(size)
    if k1:
        p = undistort(p, size, focal, k1)
    t = apply_h(h, p)
    grey = texture(t, seed)
    if blank is not None:
        u0, v0, u1, v1 = blank
        grey[(t[..., 0] >= u0) & (t[..., 0] <= u1) & (t[..., 1] >= v0) & (t[..., 1] <= v1)] = 0.5
    return to_plate(grey, grain, seed + 1)


def similarity(dx: float, dy: float, angle_deg: float = 0.0, scale: float = 1.0, centre=(0.0, 0.0),
               tilt: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A plate -> texture homography: rotation and scale about ``centre``, a shift, and a little perspective."""
    a = np.radians(angle_deg)
    c = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1.0]])
    r = np.array([[scale * np.cos(a), -scale * np.sin(a), 0], [scale * np.sin(a), scale * np.cos(a), 0], [0, 0, 1]])
    back = np.array([[1, 0, centre[0] + dx], [0, 1, centre[1] + dy], [0, 0, 1.0]])
    persp = np.array([[1, 0, 0], [0, 1, 0], [tilt[0], tilt[1], 1.0]])
    return back @ r @ c @ persp


@dataclass
class Plane:
    """A textured rectangle: points ``origin + a * axis_u + b * axis_v`` for ``0 <= a <= extent[0]``, ``0 <= b <=
    extent[1]`` (world units), its texture at ``(a, b) / unit`` (``unit`` world units per texture unit)."""

    origin: np.ndarray
    axis_u: np.ndarray
    axis_v: np.ndarray
    extent: tuple[float, float]
    seed: int
    unit: float = 0.02


def room(seed: int = 0) -> list[Plane]:
    """A back wall 16 away, a floor, and cards at depths 6 to 11 (OpenCV axes: x right, y down, z forward)."""
    rng = np.random.default_rng(seed)
    x, y, z = np.eye(3)
    planes = [Plane(np.array([-14.0, -8.0, 16.0]), x, y, (28.0, 10.0), 100 + seed),
              Plane(np.array([-14.0, 2.0, 2.0]), x, z, (28.0, 14.0), 200 + seed)]
    for k in range(6):
        cx, cy, d = rng.uniform(-4.0, 5.0), rng.uniform(-2.5, 1.0), rng.uniform(6.0, 11.0)
        w, hgt = rng.uniform(1.2, 2.5), rng.uniform(1.0, 2.5)
        planes.append(Plane(np.array([cx, cy, d]), x, y, (w, hgt), 300 + 17 * k + seed))
    return planes


@dataclass
class PlateScene:
    """Planes ray-cast through pinhole cameras ``k [3, 3]`` and ``extrinsics [S, 3, 4]`` (camera-from-world)."""

    planes: list[Plane]
    k: np.ndarray
    extrinsics: np.ndarray
    size: tuple[int, int]

    def centre(self, s: int) -> np.ndarray:
        r, t = self.extrinsics[s, :, :3], self.extrinsics[s, :, 3]
        return -r.T @ t

    def cast(self, s: int, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The nearest hit of the rays through plate ``pixels [..., 2]`` of camera ``s``: ``(its depth along the
        camera's axis [...] (inf: none), plane index [...] (-1: none), world point [..., 3])``."""
        r = self.extrinsics[s, :, :3]
        rays = np.concatenate([pixels, np.ones(pixels.shape[:-1] + (1,))], axis=-1) @ np.linalg.inv(self.k).T @ r
        c = self.centre(s)
        best = np.full(pixels.shape[:-1], np.inf)
        index = np.full(pixels.shape[:-1], -1)
        for i, pl in enumerate(self.planes):
            n = np.cross(pl.axis_u, pl.axis_v)
            denom = rays @ n
            with np.errstate(divide="ignore", invalid="ignore"):
                t = ((pl.origin - c) @ n) / denom
                hit = c + t[..., None] * rays - pl.origin
                a, b = hit @ pl.axis_u, hit @ pl.axis_v
            ok = (t > 1e-6) & (a >= 0) & (a <= pl.extent[0]) & (b >= 0) & (b <= pl.extent[1]) & (t < best)
            best = np.where(ok, t, best)
            index = np.where(ok, i, index)
        return best, index, c + best[..., None] * rays

    def render(self, s: int, grain: float = 0.0, seed: int = 0) -> np.ndarray:
        """Frame ``s`` as ``H x W x 3`` uint8 (sky, where no plane is hit, flat)."""
        p = pixel_centres(self.size)
        _, index, world = self.cast(s, p)
        grey = np.full(index.shape, 0.5)
        for i, pl in enumerate(self.planes):
            m = index == i
            rel = world[m] - pl.origin
            grey[m] = texture(np.stack([rel @ pl.axis_u, rel @ pl.axis_v], axis=-1) / pl.unit, pl.seed)
        return to_plate(grey, grain, seed + s)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(uv [S, N, 2] plate px, visible [S, N])`` of world ``points [N, 3]``: in front, inside the plate and
        not hidden by a nearer plane."""
        cam = np.einsum("sij,nj->sni", self.extrinsics[:, :, :3], points) + self.extrinsics[:, None, :, 3]
        h = cam @ self.k.T
        uv = h[..., :2] / h[..., 2:3]
        vis = (cam[..., 2] > 1e-3) & np.all((uv >= 0) & (uv <= self.size), axis=-1)
        for s in range(len(self.extrinsics)):
            vis[s] &= self.cast(s, uv[s])[0] >= cam[s, :, 2] * (1 - 1e-6)
        return uv, vis


def dolly_scene(frames: int = 12, size: tuple[int, int] = (640, 360), focal: float = 560.0, seed: int = 0
                ) -> PlateScene:
    """A lateral dolly of 3 units past ``room``, panning a few degrees to follow it; the world is the first
    camera's (as VGGT's)."""
    from synth_recon import look_at_extrinsic

    u = np.linspace(0.0, 1.0, frames)
    ext = np.array([look_at_extrinsic(np.array([3.0 * a, 0.0, 0.0]), np.array([1.2 * a, 0.0, 10.0]), up=(0, 1, 0))
                    for a in u])
    r0, t0 = ext[0, :, :3], ext[0, :, 3]  # into the first camera's frame
    planes = [Plane(r0 @ p.origin + t0, r0 @ p.axis_u, r0 @ p.axis_v, p.extent, p.seed, p.unit) for p in room(seed)]
    world = np.empty_like(ext)
    world[:, :, :3] = ext[:, :, :3] @ r0.T
    world[:, :, 3] = ext[:, :, 3] - world[:, :, :3] @ t0
    k = np.array([[focal, 0, size[0] / 2], [0, focal, size[1] / 2], [0, 0, 1.0]])
    return PlateScene(planes, k, world, size)


def scene_recon(scene: PlateScene, folder, queries: int = 256, query_frames: int = 2, head_px: float = 1.5,
                outliers: float = 0.2, grain: float = 2.0, seed: int = 0):
    """The scene's plate written to ``folder`` (PNG) and a ``Reconstruction`` of it as the engine stand-in gives
    it: the product's preprocessing and track queries (a grid on ``query_frames`` frames), the head's tracks at
    the true positions plus ``head_px`` model px of noise per axis and a share of ``outliers`` 3 to 15 model px
    off (exact on the query frame), visible where the point is; cameras off by a degree, focal by 5 % per frame
    (VGGT-like), depth ray-cast at model resolution with 3 % noise. Returns ``(recon, true 3D point per track
    [N, 3])``."""
    from dataclasses import replace
    from pathlib import Path

    from PIL import Image
    from solve_shots import rotation

    from vggt_core.plate.preprocess import intrinsics_to_model, pixels_to_original, plan_batch
    from vggt_core.solve.tracks import track_queries

    rng = np.random.default_rng(seed)
    n_frames, w = len(scene.extrinsics), scene.size[0]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(n_frames):
        paths.append(folder / f"plate.{1001 + s}.png")
        Image.fromarray(scene.render(s, grain, seed)).save(paths[-1])
    records = plan_batch([scene.size] * n_frames, "crop")
    wm, hm = records[0].model_size
    query, qf = track_queries(records, queries, query_frames)
    points = np.empty((len(query), 3))
    for i, (p, q) in enumerate(zip(query, qf)):
        points[i] = scene.cast(int(q), pixels_to_original(p[None].astype(np.float64), records[q]))[2][0]
    hit = np.isfinite(points).all(axis=1)
    points[~hit] = 0.0
    uv, vis = scene.project(points)
    vis &= hit[None]
    scale = w / records[0].resized_size[0]  # plate px per model px
    head = uv + rng.normal(0.0, head_px * scale, uv.shape)
    bad = rng.random(vis.shape) < outliers
    ang = rng.uniform(0, 2 * np.pi, vis.shape)
    head += bad[..., None] * np.stack([np.cos(ang), np.sin(ang)], -1) * rng.uniform(3, 15, vis.shape)[..., None] * scale
    cols = np.arange(len(qf))
    head[qf, cols] = pixels_to_original(query.astype(np.float64), records[0])
    vis[qf, cols] = True
    head = np.nan_to_num(head)
    depth = np.empty((n_frames, hm, wm), np.float32)
    centres = pixels_to_original(pixel_centres((wm, hm)), records[0])
    for s in range(n_frames):
        z = scene.cast(s, centres)[0]
        z = np.where(np.isfinite(z), z, 30.0) * (1 + rng.normal(0, 0.03, z.shape))
        depth[s] = z * (1 + rng.normal(0, 0.05))
    k_start = np.repeat(scene.k[None], n_frames, axis=0)
    jitter = (1 + rng.uniform(-0.05, 0.05)) * (1 + rng.normal(0, 0.02, n_frames))
    k_start[:, 0, 0] *= jitter
    k_start[:, 1, 1] *= jitter
    start = scene.extrinsics.copy()
    for s in range(1, n_frames):
        c = scene.centre(s) + rng.normal(0, 0.05, 3)
        start[s, :, :3] = rotation(rng.normal(0, np.radians(1.0), 3)) @ scene.extrinsics[s, :, :3]
        start[s, :, 3] = -start[s, :, :3] @ c
    recon = tracked_recon(paths, scene.size, head, vis, qf, query.astype(np.float32))
    k32 = k_start.astype(np.float32)
    return replace(recon, depth=depth, extrinsics=start.astype(np.float32), intrinsics=k32,
                   intrinsics_model=intrinsics_to_model(k32, records).astype(np.float32)), points


def tracked_recon(paths, size: tuple[int, int], head: np.ndarray, vis: np.ndarray, qf: np.ndarray,
                  query: np.ndarray | None = None):
    """A ``Reconstruction`` of the plate frames at ``paths`` (``(W, H)`` each) with the product's preprocessing
    and the head's tracks ``head [S, N, 2]`` (plate px, mapped onto the model canvas), ``vis [S, N]`` and query
    frames ``qf [N]``; cameras, depth and the rest are ``make_recon``'s placeholders."""
    from dataclasses import replace
    from pathlib import Path

    from synth_recon import make_recon

    from vggt_core.plate.preprocess import pixels_to_model, plan_batch
    from vggt_core.reconstruction import FrameInfo

    records = plan_batch([size] * len(paths), "crop")
    wm, hm = records[0].model_size
    tracks = np.stack([pixels_to_model(t, r) for t, r in zip(head, records)]).astype(np.float32)
    if query is None:
        query = tracks[qf, np.arange(len(qf))]
    recon = make_recon([size] * len(paths), (hm, wm))
    frames = [FrameInfo(str(Path(p).resolve()), i, None, *size) for i, p in enumerate(paths)]
    return replace(recon, frames=frames, preprocess=records, valid=np.ones((len(paths), hm, wm), bool),
                   tracks=tracks, track_vis=np.asarray(vis, np.float32), track_conf=np.ones(vis.shape, np.float32),
                   query_points=query, query_frames=np.asarray(qf, np.int32))
