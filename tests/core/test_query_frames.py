"""Tracks queried on several frames: one aggregator run, the track head with frames 0 and k swapped per query
frame k (vggt_core/network/heads/track_head.py), and the solve using every query frame's tracks."""
from __future__ import annotations

import copy
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from solve_shots import Shot, project, rotation, rotation_errors_deg, shot_recon  # noqa: E402
from synth_recon import look_at_extrinsic, make_recon  # noqa: E402

from vggt_core.network.engine import Engine  # noqa: E402
from vggt_core.errors import Cancelled, InputError  # noqa: E402
from vggt_core.solve import solve  # noqa: E402
from vggt_core.solve.tracks import observations, pick_query_frames, track_queries  # noqa: E402


@pytest.fixture(scope="module")
def model64(tiny_model):
    """The tiny model in float64: the tracker is chaotic in float32 (tests/core/test_track_head.py docstring), so
    a float32 comparison of two evaluation orders would only measure rounding."""
    return copy.deepcopy(tiny_model).double()


def _inputs(s: int = 5, n: int = 7, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(s, 3, 28, 42, generator=gen, dtype=torch.float64)
    queries = torch.rand(n, 2, generator=gen, dtype=torch.float64) * torch.tensor([41.0, 27.0], dtype=torch.float64)
    return images, queries


def test_query_frame_k_equals_reordering_the_frames_so_k_is_first(model64):
    """Tracks queried on frame k == the plain (frame-0) track head run on the frames physically reordered so k
    is first (frames 0 and k swapped, as the original demo does), with the result put back in input order."""
    images, queries = _inputs()
    qf = torch.tensor([0, 3, 3, 1, 0, 4, 3])
    with torch.no_grad():
        out = model64(images, queries, query_frames=qf)
        tokens, psi = model64.aggregator(images[None], model64.needed_layers(True))
        for k in (0, 1, 3, 4):
            order = list(range(5))
            order[0], order[k] = k, 0
            sel = qf == k
            moved = [None if t is None else t[:, order] for t in tokens]
            coords, vis, conf = model64.track_head(moved, images[None][:, order], psi, queries[None, sel])
            torch.testing.assert_close(out["track"][:, :, sel], coords[-1][:, order], atol=1e-9, rtol=0)
            torch.testing.assert_close(out["vis"][:, :, sel], vis[:, order], atol=1e-9, rtol=0)
            torch.testing.assert_close(out["conf"][:, :, sel], conf[:, order], atol=1e-9, rtol=0)
    # Each query sits exactly on its own frame, and a query on frame k is not tracked as if it were on frame 0.
    torch.testing.assert_close(out["track"][0, qf, torch.arange(7)], queries, atol=0, rtol=0)
    with torch.no_grad():
        frame0 = model64(images, queries)["track"]
    assert (frame0[0, 3, 1] - queries[1]).abs().max() > 1e-3  # frame-0 tracking moves it on frame 3


def test_engine_query_frames_progress_cancel_and_errors(tiny_model):
    engine = Engine.from_model(copy.deepcopy(tiny_model), device="cpu", dtype="fp32")
    images, queries = (t.float().numpy() for t in _inputs())
    seen: list[float] = []
    pred = engine.predict(images, queries, progress=lambda st, f: st == "tracks" and seen.append(f),
                          query_frames=np.array([0, 2, 2, 4, 0, 4, 2]))
    assert pred["track"].shape == (5, 7, 2) and pred["vis"].shape == (5, 7)
    assert seen == pytest.approx([0, 1 / 3, 2 / 3, 1])  # one step per query frame
    calls = []

    def cancel() -> bool:  # cancel as soon as tracking has started
        return bool(calls)

    with pytest.raises(Cancelled):
        engine.predict(images, queries, progress=lambda st, f: st == "tracks" and calls.append(f), cancel=cancel,
                       query_frames=np.array([0, 2, 2, 4, 0, 4, 2]))
    assert calls == [0]  # stopped before the second query frame
    with pytest.raises(InputError, match="query frames"):
        engine.predict(images, queries, query_frames=np.full(7, 5))


def test_query_frames_spread_over_the_shot():
    assert pick_query_frames(100, 4).tolist() == [0, 33, 66, 99]
    assert pick_query_frames(12, 4).tolist() == [0, 4, 7, 11]
    assert pick_query_frames(3, 4).tolist() == [0, 1, 2] and pick_query_frames(1, 4).tolist() == [0]
    recon = make_recon([(640, 360)] * 12)
    points, frames = track_queries(recon.preprocess, 1024, 4)
    assert sorted(set(frames.tolist())) == [0, 4, 7, 11] and len(points) == pytest.approx(1024, rel=0.1)
    assert np.all(np.bincount(frames)[[0, 4, 7, 11]] == len(points) // 4)


def _pan_shot(query: list[int], frames: int = 24, seed: int = 0):
    """A camera panning 60 degrees while it trucks 2 units (its view is 26 degrees wide), so frame 0's points
    leave the view. Points on a wide arc; each is tracked from the first query frame that sees it (what the track
    head's grid on each query frame gives), with 0.5 px noise except on its query frame. Returns the true
    cameras, visibility [S, N], each track's query frame [N] and the Reconstruction the solve gets."""
    rng = np.random.default_rng(seed)
    w, h, f = 640, 360, 1400.0
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
    ext = []
    for u in np.linspace(0, 1, frames):
        c, a = np.array([2.0 * u, 0.0, 0.0]), np.radians(60 * u)
        ext.append(look_at_extrinsic(c, c + [np.sin(a), 0.0, np.cos(a)]))
    ext = np.array(ext)
    r0, t0 = ext[0, :, :3].copy(), ext[0, :, 3].copy()  # frame 0 is the world, as in VGGT
    ext[:, :, :3], ext[:, :, 3] = ext[:, :, :3] @ r0.T, ext[:, :, 3] - (ext[:, :, :3] @ r0.T) @ t0
    ang, depth = rng.uniform(np.radians(-15), np.radians(75), 2000), rng.uniform(6.0, 15.0, 2000)
    points = np.c_[depth * np.sin(ang), rng.uniform(-1.5, 1.5, 2000), depth * np.cos(ang)] @ r0.T
    true_uv, z = project(k, ext, points)
    vis = (z > 0.1) & np.all((true_uv >= 0) & (true_uv <= [w, h]), axis=2)
    owner = np.full(len(points), -1)
    for q in reversed(query):
        owner[(owner < 0) & vis[q]] = q
    keep = owner >= 0
    true_uv, vis, owner = true_uv[:, keep], vis[:, keep], owner[keep]
    uv = true_uv + rng.normal(0, 0.5, true_uv.shape)
    n = np.arange(len(owner))
    uv[owner, n] = true_uv[owner, n]  # the track head pins each query on its own frame
    start = ext.copy()
    for s in range(1, frames):  # rotations off by about a degree, as VGGT's are
        start[s] = rotation(rng.normal(0, np.radians(1.0), 3)) @ ext[s]
    shot = Shot("pan", (w, h), k, ext, points[keep], uv, vis, np.zeros_like(vis), np.repeat(k[None], frames, 0)
                * [[1.05], [1.05], [1]], start, owner, np.full(frames, f))
    recon = shot_recon(shot)
    recon = replace(recon, query_frames=owner.astype(np.int32), query_points=recon.tracks[owner, n])
    return ext, vis, owner, recon


def test_the_solve_uses_the_tracks_of_every_query_frame():
    frames = 24
    _, _, _, single = _pan_shot([0], frames)
    assert not observations(single)[1][frames // 2 :].any()  # frame-0 queries: the second half is never seen
    query = pick_query_frames(frames, 4).tolist()
    ext, vis, owner, recon = _pan_shot(query, frames)
    uv, seen = observations(recon)
    n = np.arange(len(owner))
    assert np.all(seen[owner, n]) and not seen[0][~vis[0]].any()  # own query frame: seen; frame 0: only if visible

    out = solve(recon, lens="shared", refine="ba")
    assert np.bincount(out.sparse_obs[:, 0], minlength=frames).min() >= 50  # every frame of the pan is observed
    assert rotation_errors_deg(out.extrinsics.astype(np.float64), ext).max() < 0.1
    assert abs(out.intrinsics[0, 0, 0] / 1400.0 - 1) < 0.005 and out.solve["rmse_px"] < 0.8
    # Which track each solved point is (its first observation), and so its query frame: all four contribute,
    # and its colour is read on that frame at the query.
    first = np.unique(out.sparse_obs[:, 1], return_index=True)[1]
    f, p = out.sparse_obs[first].T
    track = np.array([np.argmin(np.linalg.norm(uv[fi] - out.sparse_uv[i], axis=1)) for fi, i in zip(f, first)])
    assert sorted(set(owner[track].tolist())) == query
    q = np.floor(recon.tracks[owner[track], track]).astype(int)
    np.testing.assert_array_equal(out.sparse_colors[p], recon.colors[owner[track], q[:, 1], q[:, 0]])
