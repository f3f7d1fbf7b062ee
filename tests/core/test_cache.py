"""Cache files round-trip every field, reject foreign/old/truncated files, and keys track their inputs."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from core_media import make_recon, write_images
from vggt_core import cache
from vggt_core.errors import CacheError
from vggt_core.frames import FrameSelection, list_frames
from vggt_core.pipeline import ReconstructSettings

ARRAYS = ("extrinsics", "intrinsics", "intrinsics_model", "depth", "depth_conf", "world_points",
          "world_points_conf", "points_from_depth", "colors", "valid", "tracks", "track_vis", "track_conf",
          "query_points")


@pytest.mark.parametrize("tracks", [False, True])
def test_round_trip(tmp_path, tracks):
    recon = make_recon(pad_rows=4, tracks=tracks)
    path = cache.save(recon, tmp_path / "sub" / "r.npz")
    assert path.is_file() and not list(path.parent.glob(".*tmp"))
    back = cache.load(path)
    assert back.frames == recon.frames and back.preprocess == recon.preprocess
    assert isinstance(back.preprocess[0].offset, tuple)
    assert (back.model_id, back.settings, back.timings) == (recon.model_id, recon.settings, recon.timings)
    for name in ARRAYS:
        a, b = getattr(recon, name), getattr(back, name)
        if a is None:
            assert b is None, name
        else:
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert (back.tracks is not None) == tracks


def test_rejects_bad_files(tmp_path):
    with pytest.raises(CacheError, match="not found"):
        cache.load(tmp_path / "missing.npz")
    path = cache.save(make_recon(), tmp_path / "r.npz")
    data = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.npz").write_text("hello")
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    for name in ("trunc.npz", "text.npz", "other.npz"):
        with pytest.raises(CacheError) as exc:
            cache.load(tmp_path / name)
        assert "\n" not in str(exc.value) and name in str(exc.value)


def test_rejects_other_schema_version(tmp_path):
    path = cache.save(make_recon(), tmp_path / "r.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["meta"]))
    assert meta["version"] == cache.VERSION
    meta["version"] = cache.VERSION + 1
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "v2.npz", **arrays)
    with pytest.raises(CacheError, match=f"schema version {cache.VERSION + 1}"):
        cache.load(tmp_path / "v2.npz")


def test_cache_key_tracks_inputs_weights_and_settings(tmp_path):
    paths = write_images(tmp_path, ["a.png", "b.png"])
    infos = list_frames(tmp_path)
    settings = ReconstructSettings()
    key = cache.cache_key(infos, "model-A", settings)
    assert len(key) == 64 and key == cache.cache_key(list_frames(tmp_path), "model-A", settings)
    assert key != cache.cache_key(infos, "model-B", settings)
    assert key != cache.cache_key(infos, "model-A", ReconstructSettings(mode="pad"))
    assert key != cache.cache_key(infos, "model-A", ReconstructSettings(query_points=[[1, 2]]))
    assert key != cache.cache_key(infos[:1], "model-A", settings)
    assert key != cache.cache_key([dataclasses.replace(infos[1], index=5)] + infos[1:], "model-A", settings)
    # A dict form of the settings (as stored in a Reconstruction) gives the same key.
    assert key == cache.cache_key(infos, "model-A", dataclasses.asdict(settings))
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"1234")
    wkey = cache.cache_key(infos, str(weights), settings)
    weights.write_bytes(b"12345")  # checkpoint replaced at the same path -> new key
    assert wkey != cache.cache_key(infos, str(weights), settings)
    st = os.stat(paths[0])
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched file -> new key
    assert key != cache.cache_key(infos, "model-A", settings)


def test_settings_serialise():
    settings = ReconstructSettings(FrameSelection(stride=2, indices=[4, 1]), "pad", 392, np.array([[3.5, 4.0]]))
    as_json = json.loads(json.dumps(dataclasses.asdict(settings)))
    assert ReconstructSettings.from_dict(as_json) == settings
    assert settings.query_points == ((3.5, 4.0),)
