"""Automatic rejection of moving tracks (vggt_core.solve.movers): the depth test against VGGT's depth, the
residual test, and the solve they protect, without any mask.

Ground truth: synthetic dollies with a rigid box moving through the room (tests/mover_shots.py); the engine
stand-in's depth sees the box where it is on each frame, with VGGT-like errors (tests/solve_shots.py,
``vggt_depth``)."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mover_shots import make_mover_shot, without  # noqa: E402
from solve_shots import make_shot, project, rotation_errors_deg, shot_recon  # noqa: E402

from vggt_core.plate.preprocess import pixels_to_model  # noqa: E402
from vggt_core.solve import solve  # noqa: E402
from vggt_core.solve.movers import depth_scores  # noqa: E402


def _errors(out, shot) -> tuple[float, float]:
    """Max rotation error (degrees) and focal error (fraction) of a solve against the shot's truth."""
    rot = float(rotation_errors_deg(out.extrinsics.astype(np.float64), shot.extrinsics).max())
    return rot, abs(float(out.intrinsics[0, 0, 0]) / shot.k[0, 0] - 1)


def _rejected(out, n: int) -> np.ndarray:
    rejected = np.zeros(n, bool)
    if out.moving_tracks is not None:
        rejected[out.moving_tracks] = True
    return rejected


def test_the_stand_in_depth_sees_the_mover_where_it_is():
    ms = make_mover_shot(0.25, travel=(6.0, 0.0, -2.0))
    recon = shot_recon(ms.shot)
    last = int(np.flatnonzero(ms.shot.seen[:, ms.moving].mean(axis=1) > 0.5)[-1])  # the box moved, still in view
    assert last >= 8
    cols = np.flatnonzero(ms.moving & ms.shot.seen[last] & ~ms.shot.outlier[last])
    uv, z = project(ms.shot.k, ms.shot.extrinsics[last:], ms.shot.trajectory[last, cols])
    m = np.floor(pixels_to_model(uv[0], recon.preprocess[last])).astype(int)
    d = recon.depth[last, m[:, 1], m[:, 0]]
    ratio = d / z[0]
    # One scale for the frame (VGGT's), a few % per point: the box's depth now, not where it started.
    assert np.std(np.log(ratio)) < 0.06
    start = project(ms.shot.k, ms.shot.extrinsics[last:], ms.shot.trajectory[0, cols])[1][0]
    assert np.median(np.abs(np.log(d / start) - np.median(np.log(ratio)))) > 0.05  # it came ~10 % closer


def test_depth_scores_find_offset_and_drifting_tracks_with_a_large_mover():
    rng = np.random.default_rng(3)
    frames, n = 20, 200
    z = rng.uniform(5, 15, (frames, n))  # solved depths, any scale
    frame_scale = 1.7 * np.exp(rng.normal(0, 0.05, (frames, 1)))  # VGGT's scale, jittering per frame
    depth = z * frame_scale * np.exp(rng.normal(0, 0.02, (frames, n)))
    offset = np.arange(n) < 80  # 40 % of the tracks: a mover at another depth than the solve puts it
    depth[:, offset] *= 1.25
    drift = (np.arange(n) >= 80) & (np.arange(n) < 90)  # a mover whose depth drifts through the static level
    depth[:, drift] *= np.exp(np.linspace(-0.3, 0.3, frames))[:, None]
    seen = rng.random((frames, n)) < 0.8
    score = depth_scores(z, np.where(seen, depth, np.nan), seen, np.ones(n, bool))
    static = ~offset & ~drift
    cut = 3 * np.median(score)
    assert (score[offset] > cut).all() and (score[drift] > cut).all()
    assert np.mean(score[static] > cut) < 0.02
    assert np.median(score[static]) < 0.03  # the scale is the static tracks', not pulled to the mover's


@pytest.mark.parametrize("share,travel", [
    (0.25, (6.0, 0.0, -2.0)),  # along the dolly's path: its image motion follows the static epipolar geometry
    (0.4, (-3.0, 0.0, 0.0)),  # against the dolly, parallel to it, 40 % of the tracks
    (0.4, (0.0, 0.0, -1.0)),  # towards the camera: the first solve over every track follows the mover
])
def test_a_mover_the_residuals_cannot_see_is_rejected_and_the_solve_is_as_good_as_without_it(share, travel):
    ms = make_mover_shot(share, travel=travel)
    out = solve(shot_recon(ms.shot), lens="shared", refine="ba")
    clean = solve(shot_recon(without(ms.shot, ms.moving)), lens="shared", refine="ba", reject_movers=False)
    rejected = _rejected(out, len(ms.moving))
    assert rejected[ms.moving].mean() > 0.95  # the mover's tracks, the validation ones too ...
    assert rejected[~ms.moving].sum() <= 5  # ... and a handful of static ones at most
    (rot, focal), (rot_c, focal_c) = _errors(out, ms.shot), _errors(clean, ms.shot)
    assert rot < 0.2 and rot <= rot_c + 0.1 and focal <= focal_c + 0.003
    assert not any("held-out tracks reproject" in r for r in out.solve["reasons"])  # no mover among the validation tracks
    assert out.solve["verdict"] == "check" and any("rejected as moving" in r for r in out.solve["reasons"])


def test_static_shots_lose_almost_no_tracks_and_a_tripod_is_not_scored():
    for kind in ("dolly", "orbit"):
        shot = make_shot(kind, frames=16, tracks=300, size=(640, 360), focal_px=500.0, seed=1, query_frames=4)
        out = solve(shot_recon(shot), lens="shared", refine="ba")
        assert out.solve["moving_tracks"] <= 6, kind  # 2 % of the tracks
    tripod = make_mover_shot(0.25, kind="tripod", travel=(0.0, -3.0, 0.0), frames=16, tracks=300,
                             size=(640, 360), focal_px=500.0, seed=1)
    out = solve(shot_recon(tripod.shot), lens="shared", refine="ba")
    assert out.solve["motion"] == "tripod" and out.solve["moving_tracks"] == 0 and out.moving_tracks is None


def _scaled(shot, factor: float):
    """The same shot on a plate ``factor`` times larger: every pixel quantity scaled, nothing else."""
    ks = shot.k_start.copy()
    ks[:, :2] *= factor
    k = shot.k.copy()
    k[:2] *= factor
    w, h = shot.size
    return replace(shot, size=(int(w * factor), int(h * factor)), k=k, k_start=ks, uv=shot.uv * factor,
                   focals=shot.focals * factor)


def test_a_4k_plate_and_a_960_plate_of_the_same_shot_reject_the_same_tracks():
    # A slow mover (a few tenths of a unit up through the frame): residuals of about a model pixel, which a cut
    # in plate pixels would call noise on the small plate and motion on the large one. Low noise, so the cut
    # sits at its floor.
    ms = make_mover_shot(0.2, travel=(0.0, -0.08, 0.0), noise_px=0.1, frames=16, tracks=300, size=(960, 540),
                         focal_px=750.0)
    small = solve(shot_recon(ms.shot), lens="shared", refine="ba")
    large = solve(shot_recon(_scaled(ms.shot, 4.0)), lens="shared", refine="ba")
    assert _rejected(large, len(ms.moving))[ms.moving].mean() > 0.9
    np.testing.assert_array_equal(large.moving_tracks, small.moving_tracks)
