"""Long shots in chunks tied by tracks: seam query frames, merged tracks across seams, and one adjustment over the
shot that does better than stitching alone (the ground-truth stand-in of bench/bench_long.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from vggt_core.plate.preprocess import plan_batch
from vggt_core.run.pipeline import ReconstructSettings, reconstruct_frames
from vggt_core.solve.tracks import track_queries
from vggt_core.stitch import plan_chunks, seam_query_frames
from vggt_core.stitch.seams import TIE_MODEL_PX, combine

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import bench_long  # noqa: E402  (the ground-truth engine stand-in lives with the benchmark)

FRAMES = 60


def test_both_chunks_of_every_seam_query_one_frame_alike():
    plan = plan_chunks(FRAMES, 16, 4, "chained")  # chunks start at 0, 12, 24, 36, 44 (the last moved back)
    records = plan_batch([(224, 112)] * FRAMES, "crop", 112)
    grids = []
    for chunk in plan:
        local = seam_query_frames(plan, chunk, 4)
        assert len(local) == 4 and local[0] == 0  # as many query frames as a plain run, its first frame among them
        points, frames = track_queries([records[p] for p in chunk], 1024, 4, local)
        grids.append({int(chunk[f]): points[frames == f] for f in local})
    for a, b in zip(grids, grids[1:]):
        shared = set(a) & set(b)
        assert len(shared) == 1
        f = shared.pop()
        np.testing.assert_array_equal(a[f], b[f])
    assert 44 in grids[3]  # the last chunk starts inside the one before it, which queries that frame too


def test_two_copies_of_an_observation_merge_when_they_agree():
    uv_a = np.array([[10.0, 10.0], [10.0, 10.0], [10.0, 10.0], [10.0, 10.0]])
    uv_b = uv_a + [[0.5, 0.0], [3 * TIE_MODEL_PX, 0.0], [9.0, 9.0], [9.0, 9.0]]
    vis_a, vis_b = np.array([0.9, 0.9, 0.9, 0.1]), np.array([0.7, 0.8, 0.1, 0.9])
    uv, vis, conf = combine((uv_a, vis_a, None), (uv_b, vis_b, None))
    np.testing.assert_allclose(uv[0], [10.25, 10.0])  # both seen, close: their mean
    assert vis[0] == 0.9 and conf is None
    assert vis[1] == 0.0  # both seen, far apart: one chunk lost the point, and nothing says which
    np.testing.assert_array_equal(uv[2], uv_a[2])  # seen in one copy: that copy
    np.testing.assert_array_equal(uv[3], uv_b[3])
    assert vis[2] == 0.9 and vis[3] == 0.9


@pytest.fixture(scope="module")
def shot_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shot")
    bench_long.write_shot_frames(folder, FRAMES, size=(224, 112))
    return folder


@pytest.fixture(scope="module")
def vggt_like_runs(shot_folder):
    """The stand-in with VGGT's size of errors (degrees of rotation, % of focal): stitched alone and adjusted."""
    shot = bench_long.synthetic_shot(FRAMES)
    out = {}
    for refine in ("none", "ba"):
        settings = ReconstructSettings(resolution=112, chunk_size=20, overlap=6, lens="shared", refine=refine,
                                       track_refine="none")  # the stand-in's tracks are not on its frames
        infos, engine = bench_long.standin_for(shot_folder, shot, settings, bench_long.VGGT_LIKE)
        out[refine] = reconstruct_frames(infos, settings, engine)
    return shot, out


def test_a_track_spans_a_seam_and_the_adjustment_keeps_it(vggt_like_runs):
    _, runs = vggt_like_runs
    recon = runs["ba"]
    plan = [c["frames"] for c in recon.chunks]
    first, second, third = (set(c) for c in plan[:3])
    only_first, only_second = sorted(first - second), sorted(second - first - third)
    # inliers of the adjustment seen on frames no single chunk holds together
    obs = recon.sparse_obs
    left = np.unique(obs[np.isin(obs[:, 0], only_first), 1])
    right = np.unique(obs[np.isin(obs[:, 0], only_second), 1])
    assert len(np.intersect1d(left, right)) >= 20


def test_one_adjustment_over_the_chunks_beats_stitching_alone(vggt_like_runs):
    shot, runs = vggt_like_runs
    stitched = bench_long.evaluate(runs["none"].extrinsics, runs["none"].depth, shot)["ate_percent"]
    adjusted = bench_long.evaluate(runs["ba"].extrinsics, runs["ba"].depth, shot)["ate_percent"]
    print(f"ATE % of the path: stitched {stitched:.3f}, adjusted {adjusted:.3f}")
    assert "skipped" not in runs["ba"].solve and adjusted < stitched


def test_the_centre_prior_holds_the_heads_tracks_only():
    """The stitched centres hold a chunked shot solved on the head's model-resolution tracks; tracks refined on the
    plate are held by nothing but themselves (a rendered 96-frame dolly in 4 chunks: 11.7 px p95 CG slip with the
    prior, 1.5 px without, bench/results/plates_chunked_cpu.md); a single run never has one."""
    from dataclasses import replace

    from synth_recon import make_recon
    from vggt_core.solve import centre_prior

    recon = make_recon([(64, 48)] * 4)
    recon.extrinsics[:, :, :3] = np.eye(3)
    recon.extrinsics[:, :, 3] = np.arange(4)[:, None] * np.array([1.0, 0.0, 0.0])  # a 3-unit path
    chunked = replace(recon, chunks=[{}, {}])
    centres, sigma = centre_prior(chunked)
    np.testing.assert_allclose(centres[:, 0], -np.arange(4))
    assert sigma == pytest.approx(0.005 * 3)
    assert centre_prior(recon) is None
    plate = replace(chunked, tracks_plate=np.zeros((4, 1, 2), np.float32), tracks_plate_vis=np.ones((4, 1), bool))
    assert centre_prior(plate) is None
