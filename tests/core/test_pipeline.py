"""End to end with a tiny VGGT: frames -> preprocess -> engine -> Reconstruction in original pixels."""
from __future__ import annotations

import copy
import os

import numpy as np
import pytest

from core_media import NETWORK_ONLY, write_images, write_video
from vggt_core.run import cache, pipeline
from vggt_core.network.engine import Engine
from vggt_core.errors import CacheError, Cancelled, InputError
from vggt_core.deliver.points import select_points
from vggt_core.plate.frames import FrameSelection, list_frames, read_frames
from vggt_core.run.pipeline import ReconstructSettings, cache_path, network_path, reconstruct, reconstruct_frames
from vggt_core.plate.preprocess import pixels_to_original, preprocess
from vggt_core.network.weights import save_checkpoint


@pytest.fixture(scope="module")
def engine(tiny_model):
    # A copy: the engine takes its model over (moves it, casts it on a GPU); tiny_model is session-wide.
    return Engine.from_model(copy.deepcopy(tiny_model))


def test_engine_leaves_the_shared_tiny_model_alone(engine, tiny_model):
    assert engine.model is not tiny_model


class RecordingEngine:
    """Delegates to a real engine, counting ``predict`` calls and keeping the last input and output."""

    def __init__(self, engine, model_id=None):
        self.engine, self.calls = engine, 0
        self.model_id = model_id or engine.model_id
        self.numerics = engine.numerics
        self.images = self.output = None

    def predict(self, images, **kwargs):
        self.calls += 1
        self.images = np.array(images)
        self.output = self.engine.predict(images, **kwargs)
        return self.output


def _reproject_depth_points(recon, s):
    """Original-pixel positions of frame s's depth points, and where their model pixels sit in the original."""
    k, e = recon.intrinsics[s].astype(np.float64), recon.extrinsics[s].astype(np.float64)
    cam = recon.points_from_depth[s].reshape(-1, 3).astype(np.float64) @ e[:, :3].T + e[:, 3]
    uv = (cam @ k.T)[:, :2] / (cam @ k.T)[:, 2:]
    h, w = recon.model_size
    centres = np.stack(np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5), -1).reshape(-1, 2)
    return uv, pixels_to_original(centres, recon.preprocess[s])


def test_folder_end_to_end(tmp_path, engine):
    write_images(tmp_path, ["f1.png", "f2.png", "f10.png"], size=(160, 120))
    stages = []
    recording = RecordingEngine(engine)
    recon = reconstruct(tmp_path, ReconstructSettings(**NETWORK_ONLY), recording,
                        progress=lambda s, f: stages.append((s, f)))
    assert recon.num_frames == 3 and recon.model_size == (392, 518)
    assert [os.path.basename(f.source) for f in recon.frames] == ["f1.png", "f2.png", "f10.png"]
    assert recon.model_id == engine.model_id and recon.settings["mode"] == "crop"
    assert {"frames", "preprocess", "model", "assemble"} <= set(recon.timings)
    names = [s for s, _ in stages]
    assert names[0] == "frames" and names.index("preprocess") > 0 and len(set(names)) > 2
    assert all(0.0 <= f <= 1.0 for _, f in stages)

    # The engine saw exactly the preprocessed frames, and its outputs are stored unchanged.
    images, _ = preprocess(read_frames(list_frames(tmp_path)), "crop")
    np.testing.assert_array_equal(recording.images, images)
    pred = recording.output
    np.testing.assert_array_equal(recon.colors, np.rint(images.transpose(0, 2, 3, 1) * 255).astype(np.uint8))
    for ours, theirs in [("depth", "depth"), ("extrinsics", "extrinsic"), ("intrinsics_model", "intrinsic")]:
        np.testing.assert_array_equal(getattr(recon, ours), np.reshape(pred[theirs], getattr(recon, ours).shape))

    # VGGT's centred model principal point is the original image centre; focal scales by 160/518.
    np.testing.assert_allclose(recon.intrinsics[:, :2, 2], [[80, 60]] * 3, atol=1e-3)
    np.testing.assert_allclose(recon.intrinsics[:, 0, 0], recon.intrinsics_model[:, 0, 0] * 160 / 518, rtol=1e-5)
    assert (recon.depth > 0).all() and (recon.depth_conf >= 1).all() and recon.valid.all()
    for s in range(3):  # depth points reproject onto the original pixels they came from
        uv, expected = _reproject_depth_points(recon, s)
        assert np.abs(uv - expected).max() < 0.05


def test_pad_mode_mixed_sizes_marks_padding(tmp_path, engine):
    write_images(tmp_path / "a", ["land.png"], size=(120, 80))
    write_images(tmp_path / "b", ["port.png"], size=(60, 90))
    files = [tmp_path / "a" / "land.png", tmp_path / "b" / "port.png"]
    recon = reconstruct(files, ReconstructSettings(mode="pad", resolution=126), engine)
    assert recon.model_size == (126, 126)
    land, port = recon.preprocess
    assert land.resized_size == (126, 84) and land.offset == (0, 21)
    assert port.resized_size == (84, 126) and port.offset == (21, 0)
    assert recon.valid[0, 21:105].all() and not recon.valid[0, :21].any() and not recon.valid[0, 105:].any()
    assert (recon.colors[0, :21] == 255).all()
    pts = select_points(recon, conf_percentile=0)
    assert len(pts) == int(recon.valid.sum()) == 2 * 126 * 84


def test_cache_hit_skips_engine(tmp_path, engine, tiny_model):
    write_images(tmp_path / "imgs", ["a.png", "b.png"], size=(70, 56))
    ckpt = str(save_checkpoint(tiny_model, tmp_path / "w.safetensors"))
    counting = RecordingEngine(engine, model_id=ckpt)  # names the weights -> cacheable
    settings = ReconstructSettings(resolution=70)
    first = reconstruct(tmp_path / "imgs", settings, counting, cache_dir=tmp_path / "cache")
    second = reconstruct(tmp_path / "imgs", settings, counting, cache_dir=tmp_path / "cache")
    assert counting.calls == 1 and "cache_load" in second.timings
    np.testing.assert_array_equal(first.depth, second.depth)
    np.testing.assert_array_equal(first.intrinsics, second.intrinsics)
    assert first.frames == second.frames
    # (Keys changing with settings / touched files are covered in test_cache.py.)
    infos = list_frames(tmp_path / "imgs")
    for path in (cache_path(tmp_path / "cache", infos, counting, settings),
                 network_path(tmp_path / "cache", infos, counting, settings)):
        path.unlink()  # (one file under both names: the solve left the network output as it was)
        path.write_bytes(b"broken")
    again = reconstruct(tmp_path / "imgs", settings, counting, cache_dir=tmp_path / "cache")
    assert counting.calls == 2 and again.num_frames == 2  # unusable cache entry -> recomputed, not an error
    # An in-memory model does not identify its weights: never cached.
    anonymous = RecordingEngine(engine)
    assert anonymous.model_id == "<in-memory>"
    reconstruct(tmp_path / "imgs", settings, anonymous, cache_dir=tmp_path / "cache2")
    assert not (tmp_path / "cache2").exists()


def test_a_new_solve_version_re_solves_from_the_cached_network(tmp_path, engine, tiny_model, monkeypatch):
    """The solved key carries ``solve.VERSION``: a solve whose results changed (and that bumped it) never gets the
    old code's result back, and needs no network run."""
    from dataclasses import replace

    from vggt_core import solve

    write_images(tmp_path / "imgs", ["a.png", "b.png"], size=(70, 56))
    counting = RecordingEngine(engine, model_id=str(save_checkpoint(tiny_model, tmp_path / "w.safetensors")))
    settings = ReconstructSettings(resolution=70)
    infos = list_frames(tmp_path / "imgs")
    old = reconstruct(tmp_path / "imgs", settings, counting, cache_dir=tmp_path / "cache")
    old_path = cache_path(tmp_path / "cache", infos, counting, settings)
    real = solve.solve
    monkeypatch.setattr(solve, "solve", lambda raw, *a, **kw: replace(real(raw, *a, **kw), solve={"code": "new"}))
    assert reconstruct(tmp_path / "imgs", settings, counting, cache_dir=tmp_path / "cache").solve == old.solve
    monkeypatch.setattr(solve, "VERSION", solve.VERSION + 1)
    new = reconstruct(tmp_path / "imgs", settings, counting, cache_dir=tmp_path / "cache")
    assert new.solve == {"code": "new"} and counting.calls == 1  # the new solve, on the cached network output
    assert cache_path(tmp_path / "cache", infos, counting, settings) != old_path and old_path.is_file()


def test_cache_hit_does_not_load_the_model_and_keys_on_precision(tmp_path, tiny_model):
    from vggt_core.network.engine import Engine

    write_images(tmp_path / "imgs", ["a.png", "b.png"], size=(56, 42))
    ckpt = str(save_checkpoint(tiny_model, tmp_path / "w.safetensors"))
    settings = ReconstructSettings(resolution=56, **NETWORK_ONLY)
    infos = list_frames(tmp_path / "imgs")
    fp32 = reconstruct(tmp_path / "imgs", settings, Engine(ckpt, device="cpu", dtype="fp32"), cache_dir=tmp_path / "c")
    fresh = Engine(ckpt, device="cpu", dtype="fp32")
    hit = reconstruct(tmp_path / "imgs", settings, fresh, cache_dir=tmp_path / "c")
    assert "cache_load" in hit.timings and not fresh.loaded  # the 5 GB model is never loaded for a hit
    np.testing.assert_array_equal(hit.depth, fp32.depth)
    bf16 = Engine(ckpt, device="cpu", dtype="bf16")
    assert cache_path(tmp_path / "c", infos, bf16, settings) != cache_path(tmp_path / "c", infos, fresh, settings)
    other = reconstruct(tmp_path / "imgs", settings, bf16, cache_dir=tmp_path / "c")
    assert "cache_load" not in other.timings and bf16.loaded  # bf16 computes its own result
    assert cache.usage(tmp_path / "c")[0] == 2  # one file per precision (under its network and its solve key)


def test_another_lens_re_solves_from_the_network_cache(tmp_path, engine, tiny_model):
    write_images(tmp_path / "imgs", ["a.png", "b.png", "c.png"], size=(70, 56))
    counting = RecordingEngine(engine, model_id=str(save_checkpoint(tiny_model, tmp_path / "w.safetensors")))

    def run(**kw):  # no adjustment unless asked for: the lens alone
        return reconstruct(tmp_path / "imgs", ReconstructSettings(resolution=70, **{"refine": "none", **kw}), counting,
                           cache_dir=tmp_path / "cache")

    per_frame = run(lens="per-frame")
    shared = run(lens="shared")
    known = run(lens="known", focal_px=123.0)
    assert counting.calls == 1  # the lens changed, the network's output did not
    assert len(set(per_frame.intrinsics[:, 0, 0])) == 3 and len(set(shared.intrinsics[:, 0, 0])) == 1
    np.testing.assert_allclose(known.intrinsics[:, 0, 0], 123.0)
    np.testing.assert_array_equal(known.depth, per_frame.depth)
    assert known.settings["lens"] == "known" and known.solve["lens"] == "known"
    again = run(lens="shared")
    assert "cache_load" in again.timings and again.timings["solve"] == shared.timings["solve"]  # the solved result, stored
    np.testing.assert_array_equal(again.intrinsics, shared.intrinsics)
    run(lens="shared", refine="ba")
    assert counting.calls == 2  # adjustment needs the track head: a network run with track queries
    run(lens="shared", refine="ba", distortion="k1")
    run(lens="known", focal_px=123.0, refine="ba")
    run(lens="shared", refine="ba", track_refine="none")  # tracks refined on the plate or not: a solve setting
    assert counting.calls == 2
    # Turning adjustment off solves from an output with tracks (here in a cache that has only that one).
    infos = list_frames(tmp_path / "imgs")
    reconstruct_frames(infos, ReconstructSettings(resolution=70, lens="shared", refine="ba"), counting,
                       cache_dir=tmp_path / "ba-only")
    assert counting.calls == 3
    plain = reconstruct_frames(infos, ReconstructSettings(resolution=70, lens="shared", refine="none"), counting,
                               cache_dir=tmp_path / "ba-only", network=False)
    assert counting.calls == 3 and plain.solve["refine"] == "none"
    np.testing.assert_array_equal(plain.intrinsics, shared.intrinsics)
    with pytest.raises(CacheError, match="run VGGT again"):  # re-solve only: never the network
        reconstruct_frames(list_frames(tmp_path / "imgs"), ReconstructSettings(resolution=56), counting,
                           cache_dir=tmp_path / "cache", network=False)
    assert counting.calls == 3


def test_a_solved_file_keeps_only_what_the_solve_changed(tmp_path, engine, tiny_model):
    """One copy of the shot's dense arrays (issue 28): a solved entry holds the cameras and the solve and names the
    network's file for depth, confidences, points and colours; it loads equal to the solve, and without that file
    it is not used (the next run recomputes)."""
    from vggt_core.run import cache
    from vggt_core.run.pipeline import network_path

    write_images(tmp_path / "imgs", ["a.png", "b.png", "c.png"], size=(70, 56))
    counting = RecordingEngine(engine, model_id=str(save_checkpoint(tiny_model, tmp_path / "w.safetensors")))
    infos = list_frames(tmp_path / "imgs")
    settings = ReconstructSettings(resolution=70, lens="shared", refine="none")
    solved = reconstruct_frames(infos, settings, counting, cache_dir=tmp_path / "cache")
    raw_file, solved_file = network_path(tmp_path / "cache", infos, counting, settings), cache_path(
        tmp_path / "cache", infos, counting, settings)
    assert raw_file.is_file() and solved_file.is_file() and not raw_file.samefile(solved_file)
    assert cache.read_meta(solved_file)["base"] == {"file": raw_file.name, "arrays": [
        "depth", "depth_conf", "world_points", "world_points_conf", "colors"]}
    assert solved_file.stat().st_size < raw_file.stat().st_size / 10
    loaded = cache.load(solved_file)
    for name in ("extrinsics", "intrinsics", "depth", "depth_conf", "world_points", "colors", "points_from_depth"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(solved, name), err_msg=name)
    assert loaded.solve == solved.solve
    raw_file.unlink()
    with pytest.raises(CacheError, match="network output it was solved from"):
        cache.load(solved_file)
    again = reconstruct_frames(infos, settings, counting, cache_dir=tmp_path / "cache")
    assert counting.calls == 2  # the broken entry was not served: the network ran again
    np.testing.assert_array_equal(again.intrinsics, solved.intrinsics)


def test_solve_failure_keeps_the_network_output(tmp_path, engine, tiny_model, monkeypatch):
    write_images(tmp_path / "imgs", ["a.png", "b.png"], size=(70, 56))
    counting = RecordingEngine(engine, model_id=str(save_checkpoint(tiny_model, tmp_path / "w.safetensors")))
    settings = ReconstructSettings(resolution=70, lens="shared")

    def failing(*args, **kw):
        raise InputError("the solve failed")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline.solve, "solve", failing)
        with pytest.raises(InputError, match="the solve failed"):
            reconstruct(tmp_path / "imgs", settings, counting, cache_dir=tmp_path / "cache")
    recon = reconstruct(tmp_path / "imgs", settings, counting, cache_dir=tmp_path / "cache")
    assert counting.calls == 1 and recon.solve["lens"] == "shared"


@pytest.mark.parametrize("settings, message", [
    (dict(lens="shared"), "frames of one size"),
    (dict(lens="known", focal_px=500.0), "frames of one size"),
    (dict(lens="auto", refine="ba", distortion="k1"), "differ in size"),
])
def test_settings_the_frames_cannot_take_fail_before_the_network(tmp_path, engine, settings, message):
    write_images(tmp_path / "a", ["a.png"], size=(70, 56))
    write_images(tmp_path / "b", ["b.png"], size=(56, 70))
    counting = RecordingEngine(engine)
    frames = [tmp_path / "a" / "a.png", tmp_path / "b" / "b.png"]
    st = ReconstructSettings(resolution=56, mode="pad", **settings)  # valid on their own
    with pytest.raises(InputError, match=message):
        reconstruct(frames, st, counting)
    assert counting.calls == 0


def test_cancel_while_reading_and_in_engine(tmp_path, engine):
    write_images(tmp_path, [f"{i}.png" for i in range(4)], size=(56, 42))
    seen = []
    with pytest.raises(Cancelled):
        reconstruct(tmp_path, ReconstructSettings(resolution=56), engine,
                    progress=lambda s, f: seen.append(s), cancel=lambda: len(seen) >= 2)
    assert set(seen) == {"frames"}
    stage = []
    with pytest.raises(Cancelled):
        reconstruct(tmp_path, ReconstructSettings(resolution=56), engine,
                    progress=lambda s, f: stage.append(s), cancel=lambda: bool(stage) and stage[-1] not in ("frames", "preprocess"))


def test_video_with_tracks(tmp_path, engine):
    video = write_video(tmp_path / "clip.mp4", n=20, rate=10, size=(96, 64))
    settings = ReconstructSettings(FrameSelection(max_frames=3), resolution=98, query_points=[[20.5, 30.0], [50, 10]])
    recon = reconstruct(video, settings, engine)
    assert [f.index for f in recon.frames] == [0, 10, 19]
    assert [f.timestamp for f in recon.frames] == pytest.approx([0.0, 1.0, 1.9])
    assert recon.tracks.shape == (3, 2, 2) and recon.track_vis.shape == (3, 2)
    np.testing.assert_allclose(recon.query_points, [[20.5, 30.0], [50, 10]])
    np.testing.assert_allclose(recon.tracks[0], recon.query_points, atol=1e-4)  # frame-0 tracks are the queries
