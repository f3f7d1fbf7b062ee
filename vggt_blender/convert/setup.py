"""Scene setup math: floor, origin, forward/level and scale, as transforms of the root Empty (no bpy).

Everything here works in Blender *world* coordinates (Z up, the root Empty already applied). Each
``*_transform`` returns a [4, 4] float64 matrix ``D``; the operator sets ``root = D @ root``, so the
cameras, points, proxies and markers parented to the root move together and stay consistent. ``D``
is a rotation and/or translation, or a uniform scale about the world origin: the root stays a
similarity transform.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cameras import root_matrix

_Z = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True, eq=False)
class Plane:
    """A plane ``normal . x = offset`` (``normal`` unit [3]); ``inliers`` [N] bool over the fitted
    points; ``centroid`` [3] the inliers' mean (world units)."""

    normal: np.ndarray
    offset: float
    inliers: np.ndarray
    centroid: np.ndarray

    @property
    def centre(self) -> np.ndarray:
        """The point of the plane nearest the inliers' centroid."""
        return self.centroid - (self.normal @ self.centroid - self.offset) * self.normal

    def signed_distance(self, x: np.ndarray) -> np.ndarray:
        """[N] distance of points [N, 3] along ``normal`` (positive on the side the normal points to)."""
        return np.asarray(x, dtype=np.float64).reshape(-1, 3) @ self.normal - self.offset

    def flipped(self) -> "Plane":
        return Plane(-self.normal, -self.offset, self.inliers, self.centroid)


def fit_plane(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane through points [N >= 3, 3]: (unit normal [3], offset) with normal . x = offset."""
    p = np.asarray(points, dtype=np.float64)
    c = p.mean(axis=0)
    normal = np.linalg.svd(p - c, full_matrices=False)[2][-1]
    return normal, float(normal @ c)


def ransac_plane(points: np.ndarray, threshold: float, iterations: int = 300,
                 rng: np.random.Generator | None = None) -> Plane | None:
    """The plane with most points within ``threshold`` (RANSAC on 3-point samples), refit by least
    squares on its inliers twice. None when there are fewer than 3 points or every sample is degenerate."""
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 3:
        return None
    rng = rng or np.random.default_rng(0)
    idx = rng.integers(0, len(p), size=(iterations, 3))
    a, b, c = p[idx[:, 0]], p[idx[:, 1]], p[idx[:, 2]]
    normals = np.cross(b - a, c - a)
    norm = np.linalg.norm(normals, axis=1)
    ok = norm > 1e-12
    if not ok.any():
        return None
    normals, a = normals[ok] / norm[ok, None], a[ok]
    best, best_count = None, -1
    for start in range(0, len(normals), 32):  # score 32 hypotheses at a time: [32, N] stays small
        n, q = normals[start:start + 32], a[start:start + 32]
        counts = (np.abs(p @ n.T - np.sum(n * q, axis=1)) <= threshold).sum(axis=0)
        k = int(np.argmax(counts))
        if counts[k] > best_count:
            best, best_count = (n[k], float(n[k] @ q[k])), int(counts[k])
    normal, offset = best
    inliers = np.abs(p @ normal - offset) <= threshold
    for _ in range(2):
        if inliers.sum() < 3:
            break
        normal, offset = fit_plane(p[inliers])
        inliers = np.abs(p @ normal - offset) <= threshold
    return Plane(normal, offset, inliers, p[inliers].mean(axis=0))


def orient_towards(plane: Plane, points: np.ndarray) -> Plane:
    """``plane``, its normal flipped if needed so most ``points`` (e.g. camera centres) are on its positive side."""
    return plane if np.median(plane.signed_distance(points)) >= 0 else plane.flipped()


def detect_floor(points: np.ndarray, camera_centres: np.ndarray, camera_ups: np.ndarray,
                 threshold: float | None = None, max_planes: int = 4, min_fraction: float = 0.05,
                 max_points: int = 50_000, seed: int = 0) -> Plane:
    """The floor: of the largest planes in ``points`` [N, 3], the one the cameras look down on.

    Up to ``max_planes`` planes are found one after another (RANSAC, each on the points the earlier
    ones left, each holding at least ``min_fraction`` of the points). Each normal is turned towards
    the cameras (``camera_centres`` [S, 3]); a plane with cameras on both sides is no floor. Among the
    rest the score is ``inliers * (0.2 + max(0, normal . mean camera up))`` (``camera_ups`` [S, 3]):
    a floor lies across the cameras' up vector, a wall along it, so a large wall does not win over a
    floor. ``threshold`` defaults to 1 % of the points' extent (their 2-98 percentile box diagonal).
    Raises ValueError when no plane qualifies.
    """
    rng = np.random.default_rng(seed)
    p = np.asarray(points, dtype=np.float64)
    p = p[np.all(np.isfinite(p), axis=1)]
    if len(p) > max_points:
        p = p[rng.choice(len(p), size=max_points, replace=False)]
    if len(p) < 3:
        raise ValueError("too few points to find a floor")
    if threshold is None:
        lo, hi = np.percentile(p, [2.0, 98.0], axis=0)
        threshold = 0.01 * float(np.linalg.norm(hi - lo)) or 1e-6
    centres = np.asarray(camera_centres, dtype=np.float64).reshape(-1, 3)
    up = np.asarray(camera_ups, dtype=np.float64).reshape(-1, 3).mean(axis=0)
    up /= np.linalg.norm(up) or 1.0
    remaining = np.ones(len(p), dtype=bool)
    best, best_score = None, 0.0
    for _ in range(max_planes):
        idx = np.flatnonzero(remaining)
        plane = ransac_plane(p[idx], threshold, rng=rng)
        if plane is None or plane.inliers.sum() < min_fraction * len(p):
            break
        remaining[idx[plane.inliers]] = False
        plane = orient_towards(plane, centres)
        side = plane.signed_distance(centres)
        if np.mean(side > 0) >= 0.9:  # a floor has (nearly) every camera above it
            score = plane.inliers.sum() * (0.2 + max(0.0, float(plane.normal @ up)))
            if score > best_score:
                best, best_score = plane, score
    if best is None:
        raise ValueError("no floor found: no large plane with the cameras above it (select floor points instead)")
    return best


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[3, 3] smallest rotation taking direction ``a`` to direction ``b`` (both [3], any length > 0)."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    if c < -1.0 + 1e-12:  # opposite: half a turn about any axis perpendicular to a
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def _affine(r: np.ndarray | None = None, t: np.ndarray | None = None) -> np.ndarray:
    m = np.eye(4)
    if r is not None:
        m[:3, :3] = r
    if t is not None:
        m[:3, 3] = t
    return m


def floor_transform(normal: np.ndarray, point: np.ndarray) -> np.ndarray:
    """[4, 4] rigid ``D`` putting the plane through ``point`` with ``normal`` (pointing to the side the
    cameras are on) at Z = 0 with the normal along +Z: the smallest rotation, then a shift along Z only."""
    r = rotation_between(normal, _Z)
    return _affine(r, [0.0, 0.0, -float((r @ np.asarray(point, dtype=np.float64))[2])])


def origin_transform(point: np.ndarray, keep_height: bool = False) -> np.ndarray:
    """[4, 4] translation moving world ``point`` to the origin (only in X and Y with ``keep_height``)."""
    t = -np.asarray(point, dtype=np.float64).copy()
    if keep_height:
        t[2] = 0.0
    return _affine(t=t)


def forward_transform(direction: np.ndarray) -> np.ndarray:
    """[4, 4] rotation about world Z turning ``direction``'s horizontal part to +Y (the floor stays put)."""
    d = np.asarray(direction, dtype=np.float64)
    if np.hypot(d[0], d[1]) < 1e-12:
        raise ValueError("the direction is vertical: pick a direction along the floor")
    ang = np.arctan2(d[0], d[1])  # rotating by +ang about Z takes (sin a, cos a) to (0, 1)
    c, s = np.cos(ang), np.sin(ang)
    return _affine(np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]))


# Weight of "keep each camera's pitch" against "cameras' right axes horizontal" (each term a mean over the
# cameras). It decides what the right axes leave free (a shot that never pans fixes the roll, not the pitch);
# where they fix both it shifts the result by about weight x tilt / pan spread^2 (0.004 degrees for a 90-degree
# tilt and a +-5 degree pan; tests/core/test_setup_math.py).
_KEEP_PITCH = 1e-6


def level_transform(camera_rotations: np.ndarray) -> np.ndarray:
    """[4, 4] smallest rotation (about the world origin) that makes the cameras' horizontal axes level.

    ``camera_rotations`` [S, 3, 3]: each camera's world rotation, columns its image-right, image-up and
    backward axes (a Blender camera's local +X, +Y, +Z; unit length). A camera held level has its right axis
    horizontal however far it looks up or down, so the new world up is the unit ``u`` that is closest to
    perpendicular to every right axis (least squares) and, for what those leave free, changes each
    camera's pitch (its view direction's height, ``forward . u``) least: roll goes, pitch stays. The cameras'
    up vectors choose the side ``u`` starts from. Raises ValueError when the axes do not fix the horizon.
    """
    rot = np.asarray(camera_rotations, dtype=np.float64).reshape(-1, 3, 3)
    if len(rot) == 0:
        raise ValueError("the reconstruction has no cameras")
    rights, forwards = rot[:, :, 0], -rot[:, :, 2]
    start = _Z if np.sum(rot[:, 2, 1]) >= 0 else -_Z  # the side the cameras' up vectors are on
    # residuals [right_i . u ; sqrt(w) forward_i . (u - start)] / sqrt(S), linear in u: Gauss-Newton on the sphere
    a = np.concatenate([rights, np.sqrt(_KEEP_PITCH) * forwards]) / np.sqrt(len(rot))
    b = np.concatenate([np.zeros(len(rot)), np.sqrt(_KEEP_PITCH) * forwards @ start]) / np.sqrt(len(rot))
    up = start
    for _ in range(50):
        tangent = np.linalg.svd(up[None, :])[2][1:].T  # [3, 2] orthonormal, perpendicular to up
        jac = a @ tangent
        normal = jac.T @ jac
        if np.linalg.eigvalsh(normal)[0] < 1e-3 * _KEEP_PITCH:
            raise ValueError("the cameras' horizontal axes do not fix the horizon: set the floor instead")
        step = tangent @ np.linalg.solve(normal, jac.T @ (b - a @ up))
        up = (up + step) / np.linalg.norm(up + step)
        if np.linalg.norm(step) < 1e-13:
            break
    return _affine(rotation_between(up, _Z))


def scale_transform(factor: float) -> np.ndarray:
    """[4, 4] uniform scale by ``factor`` (> 0) about the world origin."""
    if not factor > 0 or not np.isfinite(factor):
        raise ValueError(f"scale factor must be positive, got {factor}")
    return _affine(np.eye(3) * float(factor))


def distance_scale(a: np.ndarray, b: np.ndarray, metres: float) -> float:
    """Factor that makes world points ``a`` and ``b`` ``metres`` apart."""
    d = float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))
    if d <= 1e-12:
        raise ValueError("the two points coincide: select two distinct points")
    return float(metres) / d


def camera_height_scale(camera_centres: np.ndarray, metres: float) -> float:
    """Factor that puts the cameras' mean height above the floor (Z = 0) at ``metres``."""
    h = float(np.mean(np.asarray(camera_centres, dtype=np.float64).reshape(-1, 3)[:, 2]))
    if h <= 1e-12:
        raise ValueError("the cameras are not above the floor: set the floor first")
    return float(metres) / h


def setup_of(root_world: np.ndarray, scale: float) -> np.ndarray:
    """[4, 4] the Scene Setup ``D`` of a root Empty at world matrix ``root_world`` [4, 4], imported at ``scale``:
    ``root_world = D @ root_matrix(scale)`` (identity for a root as imported). Every floor, origin, forward,
    level and scale step (and a hand move of the root) is in it; a rebuild puts its new root at ``D`` again."""
    return np.asarray(root_world, dtype=np.float64) @ np.linalg.inv(root_matrix(scale))


def scale_of(m: np.ndarray) -> float:
    """The uniform scale of a similarity ``m`` [4, 4] (the cube root of its linear part's determinant)."""
    return float(np.cbrt(np.linalg.det(np.asarray(m, dtype=np.float64)[:3, :3])))


def transform_points(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a [4, 4] affine matrix to points [N, 3] (float64)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return p @ np.asarray(m)[:3, :3].T + np.asarray(m)[:3, 3]


def transform_extrinsics(extrinsics: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Camera-from-world ``[R | t]`` [S, 3, 4] (OpenCV) for the world moved by similarity ``m`` [4, 4]
    (``x' = s A x + b``): ``[R A^T | s t - R A^T b]``, so camera coordinates scale by ``s`` with the world."""
    m = np.asarray(m, dtype=np.float64)
    s = scale_of(m)
    a, b = m[:3, :3] / s, m[:3, 3]
    e = np.asarray(extrinsics, dtype=np.float64)
    r = e[:, :, :3] @ a.T
    return np.concatenate([r, (s * e[:, :, 3] - r @ b)[:, :, None]], axis=2)
