"""Pure-numpy tests of vggt_blender.convert (no bpy needed for the math itself)."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pure_convert import load_convert  # noqa: E402
from synth_recon import look_at_extrinsic, make_recon, project  # noqa: E402
from vggt_core.plate.frame_numbers import sequence_numbers  # noqa: E402


cv = load_convert()


def blender_project(bc, xw: np.ndarray) -> np.ndarray:
    """Blender's camera model written out independently: HORIZONTAL sensor fit, shift in units of
    the sensor width, pixel aspect stretching the vertical extent. Returns continuous pixels."""
    w, h = bc.resolution
    m = np.asarray(bc.matrix_world)
    xc = (xw - m[:3, 3]) @ m[:3, :3]  # Blender camera coords (looks down -Z)
    x, y = xc[:, 0] / -xc[:, 2], xc[:, 1] / -xc[:, 2]  # on the plane at distance 1
    half_w = 0.5 * bc.sensor_width / bc.lens_mm
    half_h = half_w * (h * bc.pixel_aspect_y) / (w * bc.pixel_aspect_x)
    cx_ = 2 * half_w * bc.shift_x
    cy_ = 2 * half_w * bc.shift_y
    ndc_x = (x - cx_ + half_w) / (2 * half_w)
    ndc_y = (y - cy_ + half_h) / (2 * half_h)
    return np.stack([ndc_x * w, (1 - ndc_y) * h], 1)


@pytest.mark.parametrize("w,h,fx,fy,cx,cy", [
    (640, 480, 500.0, 500.0, 320.0, 240.0),
    (640, 480, 520.0, 430.0, 301.5, 260.25),   # fx > fy, off-centre
    (480, 640, 410.0, 530.0, 250.0, 300.0),    # portrait, fy > fx
    (518, 518, 600.0, 600.0, 259.0, 259.0),
])
def test_camera_matches_opencv_projection(w, h, fx, fy, cx, cy):
    rng = np.random.default_rng(1)
    ext = look_at_extrinsic(np.array([1.0, -0.5, -4.0]), np.array([0.2, 0.1, 0.0]))
    k = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    bc = cv.opencv_to_blender_camera(k, ext, w, h)
    xw = rng.normal(size=(200, 3)) * 0.8
    uv, z = project(k, ext, xw)
    assert (z > 0).all()
    np.testing.assert_allclose(blender_project(bc, xw), uv, atol=1e-6)
    assert bc.pixel_aspect_x >= 1 and bc.pixel_aspect_y >= 1
    assert min(bc.pixel_aspect_x, bc.pixel_aspect_y) == 1.0


def test_camera_matrix_is_rigid_and_at_centre():
    ext = look_at_extrinsic(np.array([1.0, 2.0, -3.0]), np.zeros(3))
    m = cv.camera_matrix_world(ext)
    np.testing.assert_allclose(m[:3, 3], [1.0, 2.0, -3.0], atol=1e-12)
    np.testing.assert_allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(m[:3, :3]), 1.0)
    # Blender's -Z axis is the OpenCV viewing direction (towards the target at the origin)
    look = -m[:3, 2]
    np.testing.assert_allclose(look, -m[:3, 3] / np.linalg.norm(m[:3, 3]), atol=1e-12)


def test_root_matrix_is_z_up():
    r = cv.root_matrix(2.0)
    up_cv = np.array([0.0, -1.0, 0.0, 1.0])  # OpenCV "up" is -y
    np.testing.assert_allclose(r @ up_cv, [0, 0, 2.0, 1.0])
    np.testing.assert_allclose(r @ np.array([0, 0, 1.0, 1.0]), [0, 2.0, 0, 1.0])  # forward -> +Y
    assert np.isclose(np.linalg.det(r[:3, :3] / 2.0), 1.0)


def test_srgb_roundtrip_and_known_values():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(cv.linear_to_srgb(cv.srgb_to_linear(x)), x, atol=2e-6)
    np.testing.assert_allclose(cv.srgb_to_linear(np.array([0.0, 0.5, 1.0])), [0.0, 0.2140411, 1.0], atol=1e-6)


def test_confidence_rank():
    ref = np.arange(100, dtype=np.float32)
    np.testing.assert_allclose(cv.confidence_rank(np.array([0.0, 50.0, 99.0, 1000.0]), ref), [0, 50, 99, 100])
    big = np.random.default_rng(0).random(3_000_000).astype(np.float32)
    r = cv.confidence_rank(np.array([0.25, 0.5], np.float32), big)
    np.testing.assert_allclose(r, [25, 50], atol=0.3)


def _exact_rank(conf: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Percentage of ``reference`` strictly below each of ``conf``: a binary search per value (the definition)."""
    ref = np.sort(reference.astype(np.float32))
    return 100.0 * np.searchsorted(ref, conf.astype(np.float32), side="left") / ref.size


@pytest.mark.parametrize("population", ["vggt", "lognormal", "signed", "ties"])
def test_confidence_rank_agrees_with_exact_rank(population):
    """The O(1)-per-value table agrees with the exact rank within 0.02 points (the reference's own subsampling
    error is ~0.15): on VGGT-like confidences (1 + exp), a tail over six decades, values of both signs, and
    heavy ties (exact there: a bin holds one distinct value). Queries are reference values, values between and
    beyond them, and non-finite ones (NaN ranks last, as in a sort)."""
    rng = np.random.default_rng(3)
    reference = {"vggt": 1 + rng.exponential(2.0, 100_000), "lognormal": rng.lognormal(0.0, 3.0, 100_000),
                 "signed": rng.normal(0.0, 1.0, 100_000), "ties": rng.integers(1, 9, 100_000) * 1.37}[population]
    lo, hi = reference.min(), reference.max()
    conf = np.concatenate([rng.choice(reference, 40_000), rng.uniform(lo - 1, hi + 1, 40_000),
                           [lo, hi, lo - 1e-3, hi * 2 + 1, np.inf, -np.inf, np.nan]]).astype(np.float32)
    rank = cv.confidence_rank(conf, reference)
    exact = _exact_rank(conf, reference)
    assert rank.dtype == np.float32
    np.testing.assert_array_equal(cv.confidence_rank(conf[:80_000].reshape(400, 200), reference),
                                  rank[:80_000].reshape(400, 200))  # any shape in, the same shape out
    np.testing.assert_allclose(rank, exact, atol=1e-4 if population == "ties" else 0.02, rtol=0)
    order = np.argsort(conf[np.isfinite(conf)], kind="stable")
    assert np.all(np.diff(rank[np.isfinite(conf)][order]) >= 0)  # a higher confidence never ranks lower


def test_confidence_rank_degenerate_references():
    np.testing.assert_array_equal(cv.confidence_rank(np.array([2.0, 3.0, 4.0]), np.array([3.0])), [0, 0, 100])
    np.testing.assert_array_equal(cv.confidence_rank(np.array([1.0, 5.0]), np.array([np.nan, np.inf])), [0, 0])
    np.testing.assert_array_equal(cv.confidence_rank(np.array([1.0, 5.0]), np.full(10, 5.0)), [0, 0])
    np.testing.assert_array_equal(cv.confidence_rank(np.array([6.0]), np.full(10, 5.0)), [100])


def test_point_arrays_dtypes_blender_stores():
    """Every array is in the dtype its Blender attribute stores, C-contiguous: ``foreach_set`` then copies it
    in one block, where another dtype would be converted value by value."""
    rng = np.random.default_rng(1)
    n = 1000
    pts = cv.point_arrays(rng.normal(size=(n, 3)), rng.integers(0, 256, (n, 3)), 1 + rng.random(n),
                          rng.integers(0, 9, n))
    for arr, dtype, shape in ((pts.positions, np.float32, (n, 3)), (pts.colors, np.float32, (n, 4)),
                              (pts.confidence, np.float32, (n,)), (pts.conf_percentile, np.float32, (n,)),
                              (pts.frame, np.int32, (n,))):
        assert arr.dtype == dtype and arr.shape == shape and arr.flags.c_contiguous


def test_clip_range_and_display_size_sample_long_shots():
    """Clipping range and camera display size read a sample of a big shot's depth: the values of its whole
    depth (percentiles, median) within a few percent; a small map is read whole, so exactly."""
    rng = np.random.default_rng(2)
    depth = rng.lognormal(1.0, 0.5, (294, 518)).astype(np.float32)
    valid = rng.random(depth.shape) < 0.9
    lo, hi = np.percentile(depth[valid], [1.0, 99.0])
    start, end = cv.clip_range(depth, valid)
    assert start == pytest.approx(0.25 * lo, rel=0.05) and end == pytest.approx(10 * hi, rel=0.05)
    small = depth[:100, :150], valid[:100, :150]
    lo, hi = np.percentile(small[0][small[1]], [1.0, 99.0])
    assert cv.clip_range(*small) == (pytest.approx(0.25 * lo, rel=1e-12), pytest.approx(10 * hi, rel=1e-12))

    frames = 1000  # 5.5M depth pixels, of which a sample is read; frames at different depths
    depth = rng.lognormal(1.0, 0.3, (frames, 56, 98)).astype(np.float32) * rng.uniform(0.5, 2.0, (frames, 1, 1))
    shot = SimpleNamespace(depth=depth, valid=rng.random(depth.shape) < 0.9)  # what the function reads
    full = 0.1 * np.median(shot.depth[shot.valid])
    assert cv.camera_display_size(shot) == pytest.approx(full, rel=0.02)


def test_point_cloud_arrays_from_select_points():
    recon = make_recon([(640, 480)] * 3)
    st = cv.ImportSettings(conf_percentile=30.0, max_points=None)
    pts = cv.point_cloud_arrays(recon, st)
    n_expected = int((recon.depth_conf >= np.percentile(recon.depth_conf[recon.valid], 30)).sum())
    assert len(pts) == n_expected
    assert pts.positions.dtype == np.float32 and pts.positions.flags.c_contiguous
    assert pts.colors.shape == (len(pts), 4) and np.all(pts.colors[:, 3] == 1)
    assert pts.conf_percentile.min() >= 29.0 and pts.conf_percentile.max() <= 100.0
    # positions are real unprojected pixels of the recorded frames
    f0 = pts.frame == 0
    allp = recon.points_from_depth[0].reshape(-1, 3)
    d = np.abs(pts.positions[f0][:, None, :] - allp[None]).sum(-1).min(1)
    assert d.max() < 1e-6


def test_depth_proxy_counts_discontinuity_uv_and_facing():
    recon = make_recon([(640, 480), (480, 640)], model_hw=(28, 42))
    hm, wm = recon.model_size
    pm = cv.depth_proxy_mesh(recon, 0, stride=1, max_depth_jump=0.05)
    assert recon.valid[0].all()
    assert pm.num_faces == (hm - 1) * (wm - 2)  # every quad but the column across the 2x step
    assert pm.positions.shape[0] == hm * wm  # all vertices used
    # vertices are the unprojected pixel centres
    np.testing.assert_allclose(np.sort(pm.positions, axis=0),
                               np.sort(recon.points_from_depth[0].reshape(-1, 3), axis=0), atol=1e-5)
    # UVs agree with projecting each vertex through the ORIGINAL camera (independent path)
    k0, e = recon.intrinsics[0], recon.extrinsics[0]
    uv_px, _ = project(k0, e, pm.positions[pm.loop_vertex].astype(np.float64))
    w0, h0 = recon.frames[0].width, recon.frames[0].height
    np.testing.assert_allclose(pm.uvs[:, 0] * w0, uv_px[:, 0], atol=2e-3)
    np.testing.assert_allclose((1 - pm.uvs[:, 1]) * h0, uv_px[:, 1], atol=2e-3)
    # normals face the camera
    q = pm.positions[pm.loop_vertex.reshape(-1, 4)].astype(np.float64)
    nrm = np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 1])
    cam_c = -e[:, :3].T @ e[:, 3]
    assert (np.einsum("ij,ij->i", nrm, cam_c - q.mean(1)) > 0).all()


def test_depth_proxy_padding_stride_and_confidence():
    recon = make_recon([(480, 640)], model_hw=(28, 42), mode="pad")
    assert not recon.valid[0].all()
    pm = cv.depth_proxy_mesh(recon, 0, stride=1)
    _, z = project(recon.intrinsics_model[0], recon.extrinsics[0], pm.positions.astype(np.float64))
    uvm, _ = project(recon.intrinsics_model[0], recon.extrinsics[0], pm.positions.astype(np.float64))
    cols, rows = np.floor(uvm[:, 0]).astype(int), np.floor(uvm[:, 1]).astype(int)
    assert recon.valid[0][rows, cols].all()
    assert pm.uvs.min() >= 0 and pm.uvs.max() <= 1
    # stride 3 reaches the last row/column and keeps fewer faces
    ps = cv.depth_proxy_mesh(recon, 0, stride=3)
    assert 0 < ps.num_faces < pm.num_faces
    # a confidence percentile removes vertices
    pc = cv.depth_proxy_mesh(recon, 0, stride=1, conf_percentile=50.0)
    assert pc.positions.shape[0] < pm.positions.shape[0]


def test_timeline_plate_and_names():
    recon = make_recon([(64, 48)] * 3, video="/tmp/shot.mp4", indices=[4, 9, 14])
    plate = cv.default_plate(recon.frames)
    assert plate == cv.PlateSettings(movie="/tmp/shot.mp4")
    np.testing.assert_array_equal(cv.timeline_frames(recon.frames, plate, 1), [5, 10, 15])
    np.testing.assert_array_equal(cv.timeline_frames(recon.frames, None, 7), [11, 16, 21])  # movie frame k at 7 + k
    np.testing.assert_array_equal(cv.timeline_frames(recon.frames, cv.PlateSettings(timeline_frames=(3, 2, 1)), 1),
                                  [3, 2, 1])
    assert cv.default_name(recon) == "VGGT shot"
    seq = make_recon([(64, 48)] * 3, image_paths=[f"/d/s_{n:03d}.png" for n in (11, 13, 15)], indices=[0, 2, 4])
    assert sequence_numbers(seq.frames) == [11, 13, 15]
    assert cv.default_plate(seq.frames).images[0] == "/d/s_011.png"
    odd = make_recon([(64, 48)] * 2, image_paths=["/d/a1.png", "/d/b7.png"])
    assert sequence_numbers(odd.frames) is None and cv.default_plate(odd.frames) is None
    assert cv.proxy_frame_indices(12, 5) == [0, 5, 10]
    assert cv.proxy_frame_indices(12, 0) == [0]
    assert cv.proxy_frame_indices(12, 5, frames=[11, 3, 3, 40]) == [3, 11]


def test_settings_json_roundtrip_and_validation():
    st = cv.ImportSettings(proxy_frames=(1, 4), plate=cv.PlateSettings(images=("/a/1.png",), frame_start=10))
    assert cv.ImportSettings.from_json(st.to_json()) == st
    with pytest.raises(ValueError):
        cv.ImportSettings(camera_interpolation="SMOOTH")
    with pytest.raises(ValueError):
        cv.ImportSettings(max_proxies=-1)


def test_proxy_frames_at_most_max_proxies_spread_over_the_shot():
    assert cv.proxy_frame_indices(50, 5, limit=40) == list(range(0, 50, 5))  # a short shot: every 5th
    long = cv.proxy_frame_indices(1000, 5, limit=40)
    assert len(long) == 40 and long[0] == 0 and long[-1] == 995  # the first and last of every 5th frame
    assert set(long) <= set(range(0, 1000, 5)) and np.ptp(np.diff(long)) <= 5  # evenly spread
    assert len(cv.proxy_frame_indices(1000, 5, limit=0)) == 200  # 0: no limit
    assert cv.proxy_frame_indices(1000, 5, frames=range(0, 1000, 2), limit=40) == list(range(0, 1000, 2))  # chosen
    assert cv.proxy_frame_indices(1000, 0, limit=40) == [0]


@pytest.mark.parametrize("base, suffix, limit, expected", [
    ("shot", " cameras", 63, "shot cameras"),                       # fits: unchanged
    ("a" * 100, " cameras", 63, "a" * 55 + " cameras"),             # the suffix is kept whole
    ("é" * 40, " proxy 0001", 63, "é" * 26 + " proxy 0001"),       # 2-byte characters: 52 + 11 bytes
    ("ab" + "🎥" * 20, "", 11, "ab🎥🎥"),                           # never half a 4-byte character
    ("撮影", "x" * 70, 63, "x" * 70),                               # no room left for the base
])
def test_safe_name_cuts_the_base_on_a_character_boundary(base, suffix, limit, expected):
    out = cv.safe_name(base, suffix, limit)
    assert out == expected
    assert len(out.encode("utf-8")) <= max(limit, len(suffix.encode("utf-8")))


def test_max_name_bytes_by_blender_version():
    assert cv.max_name_bytes((4, 2, 23)) == 63 and cv.max_name_bytes((4, 5, 0)) == 63
    assert cv.max_name_bytes((5, 0, 1)) == 255 and cv.max_name_bytes((5, 2, 3)) == 255
