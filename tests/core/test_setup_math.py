"""Pure-numpy tests of the scene setup math (vggt_blender/convert/setup.py): floor, origin, forward, level, scale."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from pure_convert import load_convert  # noqa: E402


su = load_convert("setup")


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    c = np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def room(rng: np.random.Generator, n_floor: int = 3000, n_wall: int = 3600, n_clutter: int = 800):
    """A room in true coordinates (floor Z=0, 4 x 4 m): a floor, a LARGER wall behind it, a box of clutter,
    and 8 cameras at 1.5 m looking ahead and down. Returns (points, floor mask, centres, ups, forwards)."""
    floor = np.c_[rng.uniform(-2, 2, (n_floor, 2)), rng.normal(0, 0.003, n_floor)]
    wall = np.c_[rng.uniform(-3, 3, n_wall), 2 + rng.normal(0, 0.003, n_wall), rng.uniform(0, 3, n_wall)]
    clutter = rng.uniform([-0.5, -0.5, 0.05], [0.5, 0.5, 1.0], (n_clutter, 3))
    pts = np.concatenate([floor, wall, clutter])
    mask = np.r_[np.ones(n_floor, bool), np.zeros(n_wall + n_clutter, bool)]
    centres = np.c_[np.linspace(-1.5, 1.5, 8), np.full(8, -1.8), np.full(8, 1.5)]
    fwd = np.array([0.0, np.cos(0.4), -np.sin(0.4)])  # ahead (+Y), 23 deg down
    up = np.array([0.0, np.sin(0.4), np.cos(0.4)])
    return pts, mask, centres, np.tile(up, (8, 1)), np.tile(fwd, (8, 1))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_auto_floor_finds_the_floor_not_the_larger_wall_after_random_tilt(seed):
    rng = np.random.default_rng(seed)
    pts, mask, centres, ups, _ = room(rng)
    r, t, s = random_rotation(rng), rng.normal(0, 3, 3), rng.uniform(0.2, 5.0)  # the unknown similarity
    tilt = lambda x: s * np.asarray(x) @ r.T + t  # noqa: E731
    plane = su.detect_floor(tilt(pts), tilt(centres), ups @ r.T)
    assert angle_deg(plane.normal, r @ [0, 0, 1]) < 0.5
    assert plane.inliers.sum() > 0.9 * mask.sum()

    d = su.floor_transform(plane.normal, plane.centre)
    floor_after = su.transform_points(d, tilt(pts[mask]))
    cams_after = su.transform_points(d, tilt(centres))
    assert angle_deg(d[:3, :3] @ r @ [0, 0, 1], [0, 0, 1]) < 0.5
    assert np.abs(np.median(floor_after[:, 2])) < 0.01 * s
    np.testing.assert_allclose(cams_after[:, 2], 1.5 * s, rtol=0.02)  # above the floor, at their height
    np.testing.assert_allclose(d[:3, :3] @ d[:3, :3].T, np.eye(3), atol=1e-12)  # rigid


def test_no_floor_when_cameras_sit_on_both_sides_of_every_plane():
    rng = np.random.default_rng(5)
    pts = np.c_[rng.uniform(-1, 1, (2000, 2)), np.zeros(2000)]
    centres = np.array([[0, 0, 1.0], [0, 0, -1.0], [0.5, 0, 1.0], [0.5, 0, -1.0]])
    with pytest.raises(ValueError, match="no floor found"):
        su.detect_floor(pts, centres, np.tile([0, 0, 1.0], (4, 1)))


def test_ransac_plane_refits_on_inliers_with_outliers():
    rng = np.random.default_rng(1)
    n = np.array([0.3, -0.2, 0.93])
    n /= np.linalg.norm(n)
    basis = np.linalg.svd(n[None])[2][1:]
    on = rng.uniform(-1, 1, (1500, 2)) @ basis + 0.7 * n + rng.normal(0, 1e-4, (1500, 1)) * n
    off = rng.uniform(-1, 1, (1000, 3))
    plane = su.ransac_plane(np.concatenate([on, off]), threshold=0.005, rng=rng)
    assert min(angle_deg(plane.normal, n), angle_deg(-plane.normal, n)) < 0.05
    assert abs(abs(plane.offset) - 0.7) < 1e-3
    assert plane.inliers[:1500].all()


def test_rotation_between_including_opposite_directions():
    rng = np.random.default_rng(2)
    for a, b in [(rng.normal(size=3), rng.normal(size=3)), ([0, 0, -1.0], [0, 0, 1.0]), ([1.0, 0, 0], [1.0, 0, 0])]:
        rot = su.rotation_between(a, b)
        np.testing.assert_allclose(rot @ (np.asarray(a) / np.linalg.norm(a)), np.asarray(b) / np.linalg.norm(b),
                                   atol=1e-12)
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rot) == pytest.approx(1.0)


def test_origin_forward_and_level():
    p = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(su.transform_points(su.origin_transform(p), p), [[0, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(su.transform_points(su.origin_transform(p, keep_height=True), p), [[0, 0, 0.5]])

    d = su.forward_transform([1.0, 1.0, 0.7])
    out = d[:3, :3] @ [1.0, 1.0, 0.7]
    np.testing.assert_allclose(out, [0.0, np.sqrt(2), 0.7], atol=1e-12)  # along +Y, height kept
    with pytest.raises(ValueError, match="vertical"):
        su.forward_transform([0.0, 0.0, 1.0])



def rig(pan_deg, pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """[S, 3, 3] camera-to-world rotations (columns right, up, backward: a Blender camera's local axes) of
    cameras panned by each of ``pan_deg`` (about +Z), pitched by ``pitch_deg`` (negative: looking down) and
    rolled by ``roll_deg`` about their view direction, in a Z-up world."""
    out = []
    for pan in np.radians(np.atleast_1d(pan_deg)):
        pitch, roll = np.radians(pitch_deg), np.radians(roll_deg)
        fwd = np.array([np.sin(pan) * np.cos(pitch), np.cos(pan) * np.cos(pitch), np.sin(pitch)])
        right = np.array([np.cos(pan), -np.sin(pan), 0.0])
        up = np.cross(right, fwd)
        right, up = np.cos(roll) * right + np.sin(roll) * up, -np.sin(roll) * right + np.cos(roll) * up
        out.append(np.stack([right, up, -fwd], axis=1))
    return np.array(out)


def pitch_deg(rotations: np.ndarray) -> np.ndarray:
    """[S] each camera's view direction's angle above the horizontal (degrees)."""
    return np.degrees(np.arcsin(np.clip(-rotations[:, 2, 2], -1.0, 1.0)))


def roll_deg(rotations: np.ndarray) -> np.ndarray:
    """[S] each camera's right axis's angle out of the horizontal (degrees)."""
    return np.degrees(np.arcsin(np.clip(rotations[:, 2, 0], -1.0, 1.0)))


def levelled(rotations: np.ndarray) -> np.ndarray:
    return su.level_transform(rotations)[:3, :3] @ rotations


@pytest.mark.parametrize("pitch", [-23.0, 0.0, 15.0])
@pytest.mark.parametrize("pans", [np.linspace(-40, 40, 9), np.zeros(5)], ids=["pan", "no-pan"])
def test_level_leaves_a_level_rig_alone_however_it_is_pitched(pitch, pans):
    lev = su.level_transform(rig(pans, pitch))
    assert angle_deg(lev[:3, :3] @ [0, 0, 1.0], [0, 0, 1]) < 1e-6


@pytest.mark.parametrize("pitch", [-23.0, 10.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_level_turns_a_tilted_world_upright_from_a_panning_pitched_rig(pitch, seed):
    """The world tilted by a random rotation (as VGGT's frame is): levelling brings its true up back to +Z
    (up to a turn about Z), so each camera gets back its pitch, with no roll."""
    rng = np.random.default_rng(seed)
    tilt = random_rotation(rng)
    if (tilt @ [0, 0, 1.0])[2] < 0.2:  # keep the cameras' up side up (an upside-down world is another case)
        tilt = random_rotation(np.random.default_rng(seed + 100))
    true = rig(np.linspace(-30, 50, 12), pitch)
    lev = su.level_transform(tilt @ true)
    assert angle_deg(lev[:3, :3] @ tilt @ [0, 0, 1.0], [0, 0, 1]) < 0.01
    out = levelled(tilt @ true)
    np.testing.assert_allclose(pitch_deg(out), pitch, atol=0.01)
    np.testing.assert_allclose(roll_deg(out), 0.0, atol=0.01)


@pytest.mark.parametrize("roll", [-20.0, 6.0])
@pytest.mark.parametrize("pans", [np.linspace(-40, 40, 9), np.zeros(5)], ids=["pan", "no-pan"])
def test_level_takes_out_the_roll_and_keeps_the_pitch(roll, pans):
    """Level cameras looking 23 degrees down, seen in the frame of a first camera that was rolled (as VGGT's
    world is that camera's): the world turned by ``roll`` about that camera's view direction. After levelling
    the right axes are horizontal and each camera looks 23 degrees down again, also for a shot that never
    pans (whose right axes fix only the roll)."""
    true = rig(pans, -23.0)
    fwd = -true[0, :, 2]
    k = np.array([[0, -fwd[2], fwd[1]], [fwd[2], 0, -fwd[0]], [-fwd[1], fwd[0], 0]])
    ang = np.radians(roll)
    turn = np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * k @ k  # Rodrigues about the view direction
    rolled = turn @ true
    assert np.abs(roll_deg(rolled)[0]) > np.abs(roll) / 2  # its right axis is well out of the horizontal
    out = levelled(rolled)
    np.testing.assert_allclose(roll_deg(out), 0.0, atol=1e-3)
    np.testing.assert_allclose(pitch_deg(out), -23.0, atol=1e-3)


def test_level_with_noisy_axes_and_one_nadir_camera():
    rng = np.random.default_rng(5)
    noisy = np.array([random_small(rng, 0.2) @ r for r in rig(np.linspace(-40, 40, 30), -23.0)])
    out = levelled(noisy)
    assert np.abs(np.mean(roll_deg(out))) < 0.2 and np.abs(np.mean(pitch_deg(out)) + 23.0) < 0.5
    with pytest.raises(ValueError, match="do not fix the horizon"):  # straight down: no horizon to level
        su.level_transform(rig([0.0], -90.0))


def random_small(rng: np.random.Generator, deg: float) -> np.ndarray:
    """A rotation by ~``deg`` degrees about a random axis (Rodrigues)."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ang = np.radians(deg) * rng.normal()
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * k @ k


def test_scale_from_two_points_and_from_camera_height_is_exact():
    a, b = np.array([0.3, 0.1, 0.0]), np.array([-0.2, 0.5, 0.25])
    f = su.distance_scale(a, b, 2.5)
    sa, sb = su.transform_points(su.scale_transform(f), np.stack([a, b]))
    assert abs(np.linalg.norm(sa - sb) - 2.5) < 1e-12
    cams = np.array([[0, 0, 0.4], [1, 0, 0.6]])
    g = su.camera_height_scale(cams, 1.6)
    assert np.mean(su.transform_points(su.scale_transform(g), cams)[:, 2]) == pytest.approx(1.6, abs=1e-12)
    with pytest.raises(ValueError, match="coincide"):
        su.distance_scale(a, a, 1.0)
    with pytest.raises(ValueError, match="set the floor first"):
        su.camera_height_scale(-cams, 1.6)
    with pytest.raises(ValueError, match="positive"):
        su.scale_transform(0.0)
