"""Locators: well observed and spread, capped."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from synth_recon import make_recon  # noqa: E402
from vggt_core.deliver.locators import select_locators  # noqa: E402


def _solved(xyz: np.ndarray, seen: np.ndarray):
    obs = np.array([(f % 3, p) for p, n in enumerate(seen) for f in range(n)], np.int32)
    return dataclasses.replace(make_recon([(64, 48)] * 3), sparse_points=xyz.astype(np.float32),
                               sparse_colors=np.zeros((len(xyz), 3), np.uint8), sparse_obs=obs,
                               sparse_uv=np.zeros((len(obs), 2), np.float32))


def test_best_observed_and_evenly_spread():
    rng = np.random.default_rng(0)
    cluster = rng.normal(0.0, 0.05, (1500, 3))  # most tracks land on one busy patch
    spread = rng.uniform(-5, 5, (500, 3))
    xyz = np.concatenate([cluster, spread])
    seen = np.concatenate([rng.integers(2, 10, 1500), rng.integers(2, 10, 500)])
    recon = _solved(xyz, seen)
    picked = select_locators(recon, 100)
    assert 80 <= len(picked) <= 100 and len(set(picked.tolist())) == len(picked)
    assert np.mean(picked < 1500) < 0.1  # spread over the scene, not piled on the patch (75 % of the points)
    # the cluster keeps its best observed point
    in_cluster = picked[picked < 1500]
    assert len(in_cluster) >= 1 and seen[in_cluster].max() == seen[:1500].max()
    # best first, and better observed than the points overall
    assert (np.diff(seen[picked]) <= 0).all() and seen[picked].mean() > seen.mean()


def test_few_points_and_no_solve():
    recon = _solved(np.eye(3), np.array([2, 5, 3]))
    assert select_locators(recon, 300).tolist() == [1, 2, 0]
    assert len(select_locators(make_recon([(64, 48)] * 2))) == 0
    assert len(select_locators(recon, 0)) == 0
