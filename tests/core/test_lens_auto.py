"""``lens=auto`` must not call a prime a zoom, and must find every zoom of 1.2x (vggt_core.solve.lens.focal_drift,
vggt_core.solve.zoom): VGGT's focal over the whole shot, then, where that is not flat, the tracks."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from solve_shots import make_shot, shot_recon, vggt_focal  # noqa: E402

from vggt_core.solve import solve  # noqa: E402
from vggt_core.solve.lens import focal_drift  # noqa: E402

SEEDS = range(20)


def test_vggts_focal_alone_calls_no_prime_a_zoom_and_finds_every_1_2x_zoom():
    # 5 % independent noise per frame: the old running median's range (raw end frames) called 16 of these 20 primes
    # a zoom; the whole-shot shift calls none, and every eased or snap 1.2x zoom, in or out.
    assert sum(focal_drift(vggt_focal(s)).zooms for s in SEEDS) <= 1
    for zoom, snap in [(1.2, False), (1.2, True), (1 / 1.2, False)]:
        assert all(focal_drift(vggt_focal(s, zoom=zoom, snap=snap)).zooms for s in SEEDS), (zoom, snap)


def test_correlated_noise_never_hides_a_zoom_as_flat():
    # noise correlated from frame to frame fakes and hides drifts; the focal alone then is never "flat" on a 1.2x
    # zoom, so the tracks decide (the tests below), and it is flat on most primes with little noise (no extra solve)
    for zoom, snap in [(1.2, False), (1.2, True)]:
        assert not any(focal_drift(vggt_focal(s, zoom=zoom, snap=snap, rho=0.9)).flat for s in SEEDS), (zoom, snap)
    assert sum(focal_drift(vggt_focal(s, sd=0.01)).flat for s in SEEDS) >= 18
    assert focal_drift(np.full(3, 500.0)).sd == np.inf  # too short to measure a drift: the tracks decide


def _shot(seed: int, zoom: float = 1.0, k1: float = 0.0):
    """A 24-frame dolly whose VGGT focal is off by 5 % per frame, correlated 0.9 from frame to frame."""
    return make_shot("dolly", frames=24, tracks=400, size=(640, 360), focal_px=500.0, seed=seed, query_frames=4,
                     zoom=zoom, k1=k1, focal_jitter=0.05, focal_rho=0.9)


def test_the_tracks_keep_a_prime_whose_vggt_focal_drifts():
    shot = _shot(11)
    assert focal_drift(shot.k_start[:, 0, 0]).zooms  # VGGT's focal drifts 13 %: alone it would say zoom
    rep = solve(shot_recon(shot), lens="auto", refine="ba").solve
    assert rep["lens"] == "shared" and "fits the tracks no better" in rep["lens_reason"], rep["lens_reason"]
    # a shared lens asked for gets no false "a zoom?" either
    rep = solve(shot_recon(shot), lens="shared", refine="ba").solve
    assert not any("zoom" in r for r in rep["reasons"]), rep["reasons"]


def test_the_tracks_find_a_zoom_vggts_focal_hides():
    shot = _shot(2, zoom=1.2)
    assert not focal_drift(shot.k_start[:, 0, 0]).zooms  # correlated noise hides half the zoom's 18 %
    out = solve(shot_recon(shot), lens="auto", refine="ba")
    assert out.solve["lens"] == "zoom" and "fits the tracks better" in out.solve["lens_reason"]
    assert np.abs(out.intrinsics[:, 0, 0] / shot.focals - 1).max() < 0.05  # the dolly pins the zoom's scale loosely


def test_a_distorted_prime_solved_as_a_pinhole_is_not_a_zoom():
    # a per-frame focal soaks up some of the bending and fits better, but hardly moves: one lens
    shot = _shot(6, k1=-0.15)
    rep = solve(shot_recon(shot), lens="auto", refine="ba").solve
    assert rep["lens"] == "shared" and "one lens" in rep["lens_reason"], rep["lens_reason"]
    assert any("--distortion k1" in r for r in rep["reasons"]), rep["reasons"]
