"""Point selection: percentile like the original demo, absolute threshold, frames, padding, caps."""
from __future__ import annotations

import numpy as np
import pytest

from core_media import make_recon
from vggt_core.deliver.points import select_points, voxel_best


def test_all_points_and_their_values():
    recon = make_recon(frames=2, h=6, w=8)
    pts = select_points(recon, conf_percentile=0)
    assert len(pts) == 2 * 6 * 8
    assert pts.xyz.dtype == np.float32 and pts.rgb.dtype == np.uint8 and pts.frame.dtype == np.int32
    f, v, u = 1, 4, 5
    k = f * 48 + v * 8 + u  # frame-major pixel order
    np.testing.assert_array_equal(pts.xyz[k], recon.points_from_depth[f, v, u])
    np.testing.assert_array_equal(pts.rgb[k], recon.colors[f, v, u])
    assert pts.conf[k] == recon.depth_conf[f, v, u] and pts.frame[k] == f
    other = select_points(recon, source="points", conf_percentile=0)
    np.testing.assert_array_equal(other.xyz[k], recon.world_points[f, v, u])
    assert other.conf[k] == recon.world_points_conf[f, v, u]


def test_percentile_matches_demo_rule():
    recon = make_recon(frames=3, h=10, w=10)  # conf is a permutation of 1..300
    pts = select_points(recon, conf_percentile=50)
    thr = np.percentile(recon.depth_conf, 50)
    assert len(pts) == int((recon.depth_conf >= thr).sum()) == 150
    assert pts.conf.min() >= thr
    assert len(select_points(recon, conf_percentile=90)) == 30


def test_percentile_of_a_long_shot_from_a_sample(monkeypatch):
    """Beyond PERCENTILE_SAMPLE confidences the threshold is the percentile of a uniform sample: the share kept
    is the asked one within the sample's error, padding is never sampled, and the cap still holds."""
    from vggt_core.deliver import points as points_module

    recon = make_recon(frames=4, h=60, w=80, pad_rows=10)  # 16k valid confidences, a permutation
    monkeypatch.setattr(points_module, "PERCENTILE_SAMPLE", 8192)  # a "long shot" for this size
    valid_conf = recon.depth_conf[recon.valid]
    for pct in (20.0, 50.0, 90.0):
        pts = select_points(recon, conf_percentile=pct)
        assert len(pts) / valid_conf.size == pytest.approx(1 - pct / 100, abs=0.02)  # std error 0.5 points
    recon.depth_conf[~recon.valid] = 0.0  # padding, if it were sampled, would pull the threshold down
    assert len(select_points(recon, conf_percentile=50.0)) / valid_conf.size == pytest.approx(0.5, abs=0.02)
    assert len(select_points(recon, conf_percentile=50.0, max_points=1000)) == 1000


def test_masked_sample_draws_only_masked_values_uniformly():
    from vggt_core.deliver import masked_sample

    rng = np.random.default_rng(4)
    values = np.arange(2_000_000, dtype=np.float32).reshape(1000, 2000)  # a value names its pixel
    mask = rng.random(values.shape) < 0.3
    few = mask & (values < 1000)
    np.testing.assert_array_equal(masked_sample(values, few, 1000), values[few])  # all of them, in order
    drawn = masked_sample(values, mask, 50_000)
    assert abs(len(drawn) - 50_000) < 1500
    assert mask.ravel()[drawn.astype(np.int64)].all()  # never an unmasked pixel
    assert np.mean(drawn < np.median(values[mask])) == pytest.approx(0.5, abs=0.01)  # uniform over the masked


def test_conf_min_frames_and_padding():
    recon = make_recon(frames=3, h=10, w=10, pad_rows=2)
    assert (~recon.valid[:, :2]).all() and recon.valid[:, 2:].all()
    pts = select_points(recon, conf_percentile=0)
    assert len(pts) == 3 * 8 * 10  # padded rows dropped
    pts = select_points(recon, conf_percentile=0, conf_min=200.5)
    valid_conf = recon.depth_conf[recon.valid]
    assert len(pts) == int((valid_conf >= 200.5).sum()) and pts.conf.min() >= 200.5
    pts = select_points(recon, conf_percentile=0, frames=[2, 0])
    assert set(np.unique(pts.frame)) == {0, 2} and len(pts) == 2 * 80
    # percentile is computed over the chosen frames only
    pts = select_points(recon, conf_percentile=50, frames=[1])
    assert len(pts) == 40 and pts.conf.min() >= np.percentile(recon.depth_conf[1][recon.valid[1]], 50)


def test_non_finite_points_dropped():
    recon = make_recon(frames=1, h=4, w=4)
    recon.points_from_depth[0, 1, 2] = np.nan
    assert len(select_points(recon, conf_percentile=0)) == 15


def test_random_cap_is_deterministic_subset():
    recon = make_recon(frames=2, h=10, w=10)
    full = select_points(recon, conf_percentile=0)
    a = select_points(recon, conf_percentile=0, max_points=37, seed=3)
    b = select_points(recon, conf_percentile=0, max_points=37, seed=3)
    c = select_points(recon, conf_percentile=0, max_points=37, seed=4)
    assert len(a) == 37
    np.testing.assert_array_equal(a.xyz, b.xyz)
    assert not np.array_equal(a.xyz, c.xyz)
    rows = {tuple(r) for r in full.xyz.tolist()}
    assert all(tuple(r) in rows for r in a.xyz.tolist())


def test_voxel_keeps_most_confident_per_cell():
    xyz = np.array([[0.1, 0.1, 0.1], [0.2, 0.3, 0.4], [1.5, 0.1, 0.1], [1.6, 0.2, 0.1], [-0.5, 0, 0]], np.float32)
    conf = np.array([5.0, 9.0, 2.0, 1.0, 3.0], np.float32)
    np.testing.assert_array_equal(voxel_best(xyz, conf, 1.0), [1, 2, 4])
    with pytest.raises(ValueError):
        voxel_best(xyz, conf, 0.0)
    recon = make_recon(frames=2, h=10, w=10)
    pts = select_points(recon, conf_percentile=0, voxel_size=0.5)
    cells = np.floor(pts.xyz / 0.5)
    assert len(np.unique(cells, axis=0)) == len(pts) < 200
    full = select_points(recon, conf_percentile=0)
    full_cells = np.floor(full.xyz / 0.5)
    for cell, c in zip(cells, pts.conf):
        assert c == full.conf[(full_cells == cell).all(axis=1)].max()
