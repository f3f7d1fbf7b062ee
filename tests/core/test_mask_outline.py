"""Pure geometry of *Mask From Rejected Tracks* (vggt_blender/convert/mask_outline.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from mover_shots import make_mover_shot  # noqa: E402
from pure_convert import load_convert  # noqa: E402  (the extension's __init__ imports bpy)

_mo = load_convert("mask_outline")
cluster_tracks, outlines, padded_box, to_mask_coords = (
    _mo.cluster_tracks, _mo.outlines, _mo.padded_box, _mo.to_mask_coords)


def test_mask_coordinates_span_the_width_and_share_its_scale_upwards():
    # A 200 x 100 frame: corners and centre in Blender's Mask space (x over the width, y same scale, up).
    uv = np.array([[0.0, 0.0], [200.0, 100.0], [100.0, 50.0]])
    np.testing.assert_allclose(to_mask_coords(uv, (200, 100)), [[0.0, 0.75], [1.0, 0.25], [0.5, 0.5]])


def test_two_far_apart_movers_make_two_groups_and_never_seen_tracks_none():
    rng = np.random.default_rng(0)
    s, n = 5, 12
    uv = np.zeros((s, n, 2))
    uv[:, :6] = [20, 20] + rng.uniform(0, 10, (s, 6, 2)) + np.arange(s)[:, None, None] * 3  # drifts right
    uv[:, 6:11] = [150, 80] + rng.uniform(0, 10, (s, 5, 2))
    seen = np.ones((s, n), bool)
    seen[:, 11] = False
    seen[1:, 0] = False  # seen once only, still with its group
    groups = cluster_tracks(uv, seen, link_px=25.0)
    assert [g.tolist() for g in groups] == [list(range(6)), list(range(6, 11))]


def test_padded_box_holds_its_points_with_the_margin_and_stops_past_the_border():
    pts = np.array([[10.0, 20.0], [30.0, 5.0], [25.0, 40.0]])
    box = padded_box(pts, 4.0, (64, 48))
    assert (box.min(axis=0).tolist(), box.max(axis=0).tolist()) == ([6.0, 1.0], [34.0, 44.0])
    far = padded_box(np.array([[-30.0, 10.0], [90.0, 60.0]]), 4.0, (64, 48))  # tracked past the frame's edges
    assert (far.min(axis=0).tolist(), far.max(axis=0).tolist()) == ([-4.0, 6.0], [68.0, 52.0])


def test_a_movers_boxes_hold_its_tracks_on_every_frame_and_few_static_ones():
    ms = make_mover_shot(0.25, frames=6, tracks=120, size=(320, 180), focal_px=160.0, noise_px=0.3, outliers=0.0)
    uv, seen = ms.shot.uv, ms.shot.seen
    mov = np.flatnonzero(ms.moving)
    mseen = seen.copy()
    mseen[:, ~ms.moving] = False
    groups = cluster_tracks(uv, mseen, link_px=48.0)
    assert len(groups) == 1 and groups[0].tolist() == mov.tolist()
    (boxes,) = outlines(uv, mseen, groups, 8.0, (320, 180))
    inside = static_in = static_all = 0
    for s, corners in boxes.items():
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        xy = to_mask_coords(uv[s], (320, 180))
        hit = np.all((xy >= lo) & (xy <= hi), axis=1) & seen[s]
        inside += (hit & mseen[s]).sum()
        static_in += hit[~ms.moving].sum()
        static_all += seen[s, ~ms.moving].sum()
    assert inside == mseen.sum()
    assert static_in < 0.1 * static_all, (static_in, static_all)
