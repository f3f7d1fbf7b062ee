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

from dataclasses import dataclass, field, replace

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
    """Planes ray-cast through pinhole cameras ``k`` (``[3, 3]``, or ``[S, 3, 3]`` for a zoom) and ``extrinsics
    [S, 3, 4]`` (camera-from-world). moves: plane index -> ``[S, 3]`` world offset of that plane on each frame (a
    mover; the others stand still). k1: COLMAP's radial ``1 + k1 r^2`` of the lens (``distort``: normalised by
    each frame's focal, about the plate centre): the plate's pixels are the distorted ones, as are ``project``'s."""

    planes: list[Plane]
    k: np.ndarray
    extrinsics: np.ndarray
    size: tuple[int, int]
    moves: dict[int, np.ndarray] = field(default_factory=dict)
    k1: float = 0.0

    def kmat(self, s: int) -> np.ndarray:
        """``[3, 3]`` intrinsics of frame ``s``."""
        return self.k[s] if self.k.ndim == 3 else self.k

    def centre(self, s: int) -> np.ndarray:
        r, t = self.extrinsics[s, :, :3], self.extrinsics[s, :, 3]
        return -r.T @ t

    def planes_at(self, s: int) -> list[Plane]:
        """The planes where they stand on frame ``s``."""
        return [replace(pl, origin=pl.origin + self.moves[i][s]) if i in self.moves else pl
                for i, pl in enumerate(self.planes)]

    def cast(self, s: int, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The nearest hit of the rays through pinhole (undistorted) plate ``pixels [..., 2]`` of camera ``s``:
        ``(its depth along the camera's axis [...] (inf: none), plane index [...] (-1: none), world point
        [..., 3])``. Per axis, not per 3-vector: a 4K frame is 8 M rays."""
        r = self.extrinsics[s, :, :3]
        kinv = np.linalg.inv(self.kmat(s))
        x = (pixels[..., 0] * kinv[0, 0] + pixels[..., 1] * kinv[0, 1] + kinv[0, 2])
        y = (pixels[..., 1] * kinv[1, 1] + kinv[1, 2])
        rays = [x * r[0, i] + y * r[1, i] + r[2, i] for i in range(3)]  # world direction, unit depth
        c = self.centre(s)
        best = np.full(pixels.shape[:-1], np.inf)
        index = np.full(pixels.shape[:-1], -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            for i, pl in enumerate(self.planes_at(s)):
                n = np.cross(pl.axis_u, pl.axis_v)
                t = ((pl.origin - c) @ n) / sum(rays[j] * n[j] for j in range(3) if n[j])
                d = c - pl.origin
                a = d @ pl.axis_u + t * sum(rays[j] * pl.axis_u[j] for j in range(3) if pl.axis_u[j])
                b = d @ pl.axis_v + t * sum(rays[j] * pl.axis_v[j] for j in range(3) if pl.axis_v[j])
                ok = (t > 1e-6) & (a >= 0) & (a <= pl.extent[0]) & (b >= 0) & (b <= pl.extent[1]) & (t < best)
                best[ok] = t[ok]
                index[ok] = i
        return best, index, c + best[..., None] * np.stack(rays, axis=-1)

    def render(self, s: int, grain: float = 0.0, seed: int = 0) -> np.ndarray:
        """Frame ``s`` as ``H x W x 3`` uint8 (sky, where no plane is hit, flat)."""
        p = pixel_centres(self.size)
        if self.k1:
            p = undistort(p, self.size, self.kmat(s)[0, 0], self.k1)
        _, index, world = self.cast(s, p)
        grey = np.full(index.shape, 0.5)
        for i, pl in enumerate(self.planes_at(s)):
            m = index == i
            rel = world[m] - pl.origin
            grey[m] = texture(np.stack([rel @ pl.axis_u, rel @ pl.axis_v], axis=-1) / pl.unit, pl.seed)
        return to_plate(grey, grain, seed + s)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(uv [S, N, 2] plate px, visible [S, N])`` of world ``points`` (``[N, 3]``, or ``[S, N, 3]`` for
        points that move): in front, inside the plate and not hidden by a nearer plane."""
        pts = np.broadcast_to(points, (len(self.extrinsics),) + points.shape[-2:])
        cam = np.einsum("sij,snj->sni", self.extrinsics[:, :, :3], pts) + self.extrinsics[:, None, :, 3]
        ks = np.broadcast_to(self.k, (len(self.extrinsics), 3, 3))
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.einsum("sij,snj->sni", ks, cam)
            pinhole = h[..., :2] / h[..., 2:3]
        uv = pinhole.copy()
        if self.k1:
            for s in range(len(uv)):
                uv[s] = distort(pinhole[s], self.size, ks[s, 0, 0], self.k1)
        vis = (cam[..., 2] > 1e-3) & np.all((uv >= 0) & (uv <= self.size), axis=-1)
        for s in range(len(self.extrinsics)):
            vis[s] &= self.cast(s, pinhole[s])[0] >= cam[s, :, 2] * (1 - 1e-6)
        return uv, vis

    def static_points(self, count: int = 2000, seed: int = 5) -> np.ndarray:
        """``[P, 3]`` world points of the standing planes, near and far: under random plate pixels of the first,
        middle and last frames (where a ray hits a standing plane)."""
        rng = np.random.default_rng(seed)
        n = len(self.extrinsics)
        out = []
        for s in (0, n // 2, n - 1):
            _, index, world = self.cast(s, rng.uniform([0, 0], self.size, (count // 3 + 1, 2)))
            out.append(world[(index >= 0) & ~np.isin(index, list(self.moves))])
        return np.concatenate(out)[:count]


def _in_first_camera(planes: list[Plane], ext: np.ndarray, moves: dict[int, np.ndarray] | None = None
                     ) -> tuple[list[Plane], np.ndarray, dict[int, np.ndarray]]:
    """Planes, cameras ``[S, 3, 4]`` and plane moves re-expressed in the first camera's frame (VGGT's world)."""
    r0, t0 = ext[0, :, :3], ext[0, :, 3]
    planes = [Plane(r0 @ p.origin + t0, r0 @ p.axis_u, r0 @ p.axis_v, p.extent, p.seed, p.unit) for p in planes]
    world = np.empty_like(ext)
    world[:, :, :3] = ext[:, :, :3] @ r0.T
    world[:, :, 3] = ext[:, :, 3] - world[:, :, :3] @ t0
    return planes, world, {i: m @ r0.T for i, m in (moves or {}).items()}


def _intrinsics(size: tuple[int, int], focal) -> np.ndarray:
    """``[3, 3]`` (scalar focal) or ``[S, 3, 3]`` (a focal per frame), principal point at the plate centre."""
    f = np.asarray(focal, np.float64)
    k = np.zeros(f.shape + (3, 3))
    k[..., 0, 0] = k[..., 1, 1] = f
    k[..., 0, 2], k[..., 1, 2], k[..., 2, 2] = size[0] / 2, size[1] / 2, 1.0
    return k


def dolly_scene(frames: int = 12, size: tuple[int, int] = (640, 360), focal: float = 560.0, seed: int = 0
                ) -> PlateScene:
    """A lateral dolly of 3 units past ``room``, panning a few degrees to follow it; the world is the first
    camera's (as VGGT's)."""
    return shot_scene("dolly", frames, size, focal, seed)


SHOTS = ("dolly", "orbit", "handheld", "tripod", "zoom", "pushin", "mover")


def shot_scene(kind: str, frames: int = 40, size: tuple[int, int] = (1920, 1080), focal: float | None = None,
               seed: int = 0, k1: float = 0.0) -> PlateScene:
    """A shot of ``room`` (world: the first camera's frame; focal default ``0.875 W``, a 35 mm-ish lens), ``kind``:

    * ``dolly``: lateral 3 units, panning a few degrees to follow a point 10 ahead;
    * ``orbit``: a 30 degree arc of radius 9 around the room's centre (9 ahead), looking at it;
    * ``handheld``: a walk 2 units forward with a step bob, sway and smooth random rotations of about a degree;
    * ``tripod``: a pan of 20 degrees and a tilt of 3 about one fixed centre;
    * ``zoom``: the dolly with the focal going 1.0 -> 1.5x over the shot (smoothly), the lens fixed otherwise;
    * ``pushin``: 1 unit straight ahead (little parallax: the cards are 6-11 away);
    * ``mover``: the dolly while an actor-sized card (0.8 x 1.8, on the floor, 5 ahead) walks 7 units across.
    k1: the lens's radial distortion (``PlateScene.k1``)."""
    from solve_shots import rotation
    from synth_recon import look_at_extrinsic

    rng = np.random.default_rng(1000 + seed)
    focal = 0.875 * size[0] if focal is None else focal
    u = np.linspace(0.0, 1.0, frames)
    planes = room(seed)
    moves = {}
    look = lambda c, t: look_at_extrinsic(np.asarray(c, float), np.asarray(t, float), up=(0, 1, 0))  # noqa: E731
    if kind in ("dolly", "zoom", "mover"):
        ext = np.array([look([3.0 * a, 0.0, 0.0], [1.2 * a, 0.0, 10.0]) for a in u])
    elif kind == "orbit":
        centre = np.array([0.5, 0.0, 9.0])
        ext = np.array([look(centre + 9.0 * np.array([np.sin(a), 0.0, -np.cos(a)]), centre)
                        for a in np.radians(-15.0 + 30.0 * u)])
    elif kind == "handheld":
        wobble = np.cumsum(rng.normal(0, 1, (frames + 8, 3)), axis=0)
        wobble = np.array([np.convolve(w, np.ones(9) / 9, "valid") for w in wobble.T]).T  # smooth: no jitter
        wobble = np.radians(1.0) * (wobble - wobble.mean(0)) / (wobble.std(0) + 1e-9)
        ext = []
        for a, w in zip(u, wobble):
            c = np.array([0.08 * np.sin(2 * np.pi * 1.5 * a), 0.03 * np.sin(2 * np.pi * 6 * a), 2.0 * a])
            base = look(c, c + [0.0, 0.0, 10.0])
            r = rotation(w) @ base[:, :3]
            ext.append(np.concatenate([r, (-r @ c)[:, None]], axis=1))
        ext = np.array(ext)
    elif kind == "tripod":
        ext = np.array([look([0.0, 0.0, 0.0], [10.0 * np.tan(a), 10.0 * np.tan(b), 10.0])
                        for a, b in zip(np.radians(-10.0 + 20.0 * u), np.radians(-1.5 + 3.0 * u))])
    elif kind == "pushin":
        ext = np.array([look([0.0, 0.0, a], [0.0, 0.0, 10.0]) for a in u])
    else:
        raise ValueError(f"unknown shot {kind!r} (one of {', '.join(SHOTS)})")
    if kind == "mover":
        planes.append(Plane(np.array([-2.5, 0.2, 5.0]), np.eye(3)[0], np.eye(3)[1], (0.8, 1.8), 900 + seed, 0.01))
        moves[len(planes) - 1] = np.outer(7.0 * u, [1.0, 0.0, 0.0])
    zoom = 1.0 + 0.5 * (3 * u**2 - 2 * u**3) if kind == "zoom" else None  # eased in and out, as a zoom is
    planes, world, moves = _in_first_camera(planes, ext, moves)
    return PlateScene(planes, _intrinsics(size, focal if zoom is None else focal * zoom), world, size, moves, k1)


def write_plate(scene: PlateScene, folder, grain: float = 2.0, seed: int = 0, jpeg: int | None = None) -> list:
    """The scene's frames in ``folder`` as ``plate.1001.png``... (or ``.jpg`` at OpenCV's quality ``jpeg``: the
    frame as a compressed plate is), rendered only where missing (a bench reuses its plates). Returns the paths."""
    import os
    from pathlib import Path

    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(len(scene.extrinsics)):
        path = folder / f"plate.{1001 + s}.{'jpg' if jpeg else 'png'}"
        if not path.is_file():
            bgr = scene.render(s, grain, seed)[..., ::-1]
            tmp = path.with_name(f".tmp{os.getpid()}{path.suffix}")  # two benches may render the same plate
            cv2.imwrite(str(tmp), bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg] if jpeg else [])
            tmp.replace(path)
        paths.append(path)
    return paths


def scene_recon(scene: PlateScene, folder, queries: int = 256, query_frames: int = 2, head_px: float = 1.5,
                outliers: float = 0.2, grain: float = 2.0, seed: int = 0, rot_err_deg: float = 1.0,
                focal_noise: float = 0.02, jpeg: int | None = None, picked=None):
    """The scene's plate written to ``folder`` (``write_plate``: PNG, or JPEG at quality ``jpeg``; frames already
    there are reused) and a ``Reconstruction`` of it as the engine stand-in gives it: the product's preprocessing
    and track queries (a grid on ``query_frames`` frames), the head's tracks at the true (distorted) plate
    positions plus ``head_px`` model px of noise per axis and a share of ``outliers`` 3 to 15 model px off (exact
    on the query frame), visible where the point is (a point on a mover moves with it); VGGT-like cameras: the
    first exact, the others turned by ``rot_err_deg`` per axis (sd) and moved by 0.05, the focal off by up to 5 %
    for the shot and ``focal_noise`` (sd) per frame; depth ray-cast at model resolution with 3 % noise per pixel
    and 5 % per frame; the world normalised per call as VGGT's is (first camera's frame, unit mean depth on the
    first frame). picked: the query frames themselves (``track_queries``' own; a chunk's seam frames). Returns
    ``(recon, true 3D point per track on its query frame [N, 3])``."""
    from dataclasses import replace

    from solve_shots import rotation

    from vggt_core.plate.preprocess import intrinsics_to_model, pixels_to_original, plan_batch
    from vggt_core.solve.tracks import track_queries

    rng = np.random.default_rng(seed)
    n_frames, w = len(scene.extrinsics), scene.size[0]
    paths = write_plate(scene, folder, grain, seed, jpeg)
    records = plan_batch([scene.size] * n_frames, "crop")
    wm, hm = records[0].model_size
    query, qf = track_queries(records, queries, query_frames, picked)
    points = np.empty((len(query), 3))
    plane = np.empty(len(query), int)
    for i, (p, q) in enumerate(zip(query, qf)):
        plate = pixels_to_original(p[None].astype(np.float64), records[q])
        if scene.k1:
            plate = undistort(plate, scene.size, scene.kmat(int(q))[0, 0], scene.k1)
        _, index, world = scene.cast(int(q), plate)
        points[i], plane[i] = world[0], index[0]
    hit = np.isfinite(points).all(axis=1)
    points[~hit] = 0.0
    moving = np.repeat(points[None], n_frames, axis=0)
    for i, m in scene.moves.items():  # a point on a mover goes where its plane goes
        on = plane == i
        moving[:, on] += m[:, None] - m[qf[on]][None]
    uv, vis = scene.project(moving)
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
        pin = undistort(centres, scene.size, scene.kmat(s)[0, 0], scene.k1) if scene.k1 else centres
        z = scene.cast(s, pin)[0]
        z = np.where(np.isfinite(z), z, 30.0) * (1 + rng.normal(0, 0.03, z.shape))
        depth[s] = z * (1 + rng.normal(0, 0.05))
    k_start = np.array([scene.kmat(s) for s in range(n_frames)])
    jitter = (1 + rng.uniform(-0.05, 0.05)) * (1 + rng.normal(0, focal_noise, n_frames))
    k_start[:, 0, 0] *= jitter
    k_start[:, 1, 1] *= jitter
    start = scene.extrinsics.copy()
    for s in range(1, n_frames):
        c = scene.centre(s) + rng.normal(0, 0.05, 3)
        start[s, :, :3] = rotation(rng.normal(0, np.radians(rot_err_deg), 3)) @ scene.extrinsics[s, :, :3]
        start[s, :, 3] = -start[s, :, :3] @ c
    norm = 1.0 / float(np.mean(depth[0]))  # VGGT's per-call scale: the scene's size is unknown to it
    start[:, :, 3] *= norm
    recon = tracked_recon(paths, scene.size, head, vis, qf, query.astype(np.float32))
    k32 = k_start.astype(np.float32)
    return replace(recon, depth=depth * norm, extrinsics=start.astype(np.float32), intrinsics=k32,
                   intrinsics_model=intrinsics_to_model(k32, records).astype(np.float32)), points


def aligned_cameras(est: np.ndarray, true: np.ndarray, nodal: bool = False) -> tuple[np.ndarray, dict]:
    """The solved cameras ``est [S, 3, 4]`` moved into the true world (``true [S, 3, 4]``) by the similarity the
    solve cannot know: its rotation the mean of ``R_est^T R_true`` over the frames (chordal, projected onto SO(3):
    camera centres alone leave a dolly's or a push-in's line free to turn about itself), its scale and shift by
    least squares on the camera centres; ``nodal`` (one centre): the rotation and shift alone. Returns ``(aligned
    cameras [S, 3, 4], {"scale", "rotation_deg"})``."""
    m = np.einsum("sji,sjk->ik", est[:, :, :3], true[:, :, :3])
    u, _, vt = np.linalg.svd(m)
    rot = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt  # x_est_world = scale * rot @ x_true + shift
    c_est = np.einsum("sji,sj->si", est[:, :, :3], -est[:, :, 3])
    c_true = np.einsum("sji,sj->si", true[:, :, :3], -true[:, :, 3])
    a, b = c_est - c_est.mean(0), (c_true - c_true.mean(0)) @ rot.T
    scale = 1.0 if nodal or np.sum(b * b) < 1e-12 else float(np.sum(a * b) / np.sum(b * b))
    shift = c_est.mean(0) - scale * rot @ c_true.mean(0)
    out = np.empty_like(est, dtype=np.float64)
    out[:, :, :3] = est[:, :, :3] @ rot  # camera-from-true-world: R_est (scale rot x + shift) + t_est, over scale
    out[:, :, 3] = (est[:, :, 3] + est[:, :, :3] @ shift) / scale
    angle = float(np.degrees(np.arccos(np.clip((np.trace(rot) - 1) / 2, -1, 1))))
    return out, {"scale": scale, "rotation_deg": angle}


def cg_slip(scene: PlateScene, extrinsics: np.ndarray, intrinsics: np.ndarray, k1: float = 0.0,
            points: np.ndarray | None = None, nodal: bool = False) -> np.ndarray:
    """CG slip, plate px ``[M]``: the scene's standing ``points [P, 3]`` (default ``static_points``) through the
    solved cameras (``extrinsics [S, 3, 4]`` after ``aligned_cameras``; ``intrinsics [S, 3, 3]``; COLMAP's radial
    ``k1`` about each frame's principal point) against the plate pixels the true cameras put them on, wherever
    the true camera sees them: how far a CG element placed with the solve slides on the plate."""
    points = scene.static_points() if points is None else points
    ext, _ = aligned_cameras(np.asarray(extrinsics, np.float64), scene.extrinsics, nodal)
    cam = np.einsum("sij,nj->sni", ext[:, :, :3], points) + ext[:, None, :, 3]
    xy = cam[..., :2] / cam[..., 2:3]
    k = np.asarray(intrinsics, np.float64)
    xy = xy * (1 + k1 * np.sum(xy**2, axis=-1, keepdims=True))
    uv = xy * k[:, None, [0, 1], [0, 1]] + k[:, None, [0, 1], [2, 2]]
    truth, seen = scene.project(points)
    return np.hypot(*(uv - truth)[seen].T)


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
