"""One pixel convention end to end: a point at a known plate pixel, tracked by a stand-in of the track head that
answers in the head's own convention (pixel centres at integers, as the original's training data and
``grid_sample(align_corners=True)`` put them), lands on that plate pixel in the solve and in COLMAP.

The stand-in tests only our side of the head's contract (integer centres in, integer centres out); COLMAP's
side is read back with pycolmap (COLMAP puts pixel centres at +0.5, as the ``Reconstruction`` does)."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from solve_shots import head_tracked, make_shot, shot_recon, true_uv  # noqa: E402

from vggt_core.deliver.colmap import write_colmap  # noqa: E402
from vggt_core.plate.preprocess import plan_batch  # noqa: E402
from vggt_core.solve import solve  # noqa: E402
from vggt_core.solve.tracks import observations  # noqa: E402


def test_plate_pixel_lands_on_that_pixel_in_the_solve_and_in_colmap(tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    shot = make_shot("dolly", frames=6, tracks=120, size=(1920, 1080), focal_px=1500.0, noise_px=0.0,
                     outliers=0.0, rot_err_deg=0.0, focal_err=0.0, focal_jitter=0.0, seed=3)
    # The product's real preprocessing of a 1080p plate (518 x 294 model canvas: 3.7 plate px per model px).
    recon = replace(shot_recon(shot), preprocess=plan_batch([shot.size] * 6, "crop"))
    recon = head_tracked(shot, recon)
    uv, seen = observations(recon)
    true = true_uv(shot)
    assert np.abs(uv - true)[seen].max() < 1e-3  # plate pixels, before any adjustment

    out = solve(recon, lens="known", focal_px=1500.0, refine="ba")
    model = pycolmap.Reconstruction(str(write_colmap(tmp_path, out, binary=True, text=False)))
    worst = 0.0
    for image_id, image in model.images.items():
        xy = np.array([p.xy for p in image.points2D])
        assert len(xy) > 20
        # each observation sits on the true projection of some point (they lie hundreds of pixels apart)
        dist = np.linalg.norm(xy[:, None] - true[image_id - 1][None], axis=2).min(axis=1)
        worst = max(worst, float(dist.max()))
    assert worst < 1e-3, worst


def test_crop_mode_drops_tracks_where_the_network_saw_nothing():
    from synth_recon import make_recon

    # A portrait plate in crop mode: the canvas shows only the middle rows (offset y = -130 model px).
    recon = make_recon([(640, 960)] * 2, model_hw=(518, 518))
    assert recon.preprocess[0].offset[1] < 0
    # model pixels: inside the canvas; above it (a plate row the network never saw); below it; in the canvas again
    tracks = np.array([[[100, 50], [100, 60], [300, 200], [200, 400]],
                       [[100, 40], [100, -20], [300, 530], [200, 518]]], np.float32)
    recon = replace(recon, tracks=tracks, track_vis=np.ones((2, 4), np.float32), track_conf=None,
                    query_points=tracks[0], query_frames=np.zeros(4, np.int32))
    uv, seen = observations(recon)
    assert np.all((uv[1, 1:3, 1] >= 0) & (uv[1, 1:3, 1] <= 960))  # inside the plate, yet outside what was seen
    np.testing.assert_array_equal(seen, [[True] * 4, [True, False, False, True]])


@pytest.mark.parametrize("size", [(640, 360), (2560, 1440)])
def test_outlier_rejection_is_in_model_pixels_whatever_the_plate(size):
    """An observation 2 model px off is kept and one 6 model px off is rejected, on a small plate and on a
    large one (a fixed plate-pixel limit would reject the first at 2.5K or keep the second at 640)."""
    shot = make_shot("orbit", frames=10, tracks=200, size=size, focal_px=0.8 * size[0], noise_px=0.0,
                     outliers=0.0, seed=2)
    px = size[0] / 518  # plate px per model px
    rng = np.random.default_rng(0)
    pick = shot.seen.copy()
    pick[0] = False
    pick &= rng.random(pick.shape) < 0.06
    small = pick & (rng.random(pick.shape) < 0.5)
    large = pick & ~small
    ang = rng.uniform(0, 2 * np.pi, shot.seen.shape)
    step = np.stack([np.cos(ang), np.sin(ang)], -1) * px
    shot.uv[small] += 2.0 * step[small]
    shot.uv[large] += 6.0 * step[large]
    # the adjuster's per-observation limit alone (whole-track rejection would take some tracks away first)
    out = solve(shot_recon(shot), lens="shared", refine="ba", reject_movers=False)
    rejected = int(out.solve["outliers_rejected"])
    assert large.sum() * 0.9 <= rejected <= large.sum() + 0.2 * small.sum(), (rejected, large.sum(), small.sum())
