"""Cache files round-trip every field, reject foreign/old/truncated files, and keys track their inputs."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np
import pytest

from core_media import make_recon, write_images
from vggt_core.run import cache
from vggt_core.errors import CacheError, InputError
from vggt_core.plate.frames import FrameSelection, list_frames
from vggt_core.run.pipeline import ReconstructSettings

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


MODEL_A = {"weights": {"checkpoint": "a" * 64, "config": None}, "device": "cpu", "dtype": "float32"}


def test_cache_key_tracks_inputs_model_and_settings(tmp_path):
    paths = write_images(tmp_path, ["a.png", "b.png"])
    infos = list_frames(tmp_path)
    settings = ReconstructSettings()
    key = cache.cache_key(infos, MODEL_A, settings)
    assert len(key) == 64 and key == cache.cache_key(list_frames(tmp_path), dict(MODEL_A), settings)
    for change in ({"weights": {"checkpoint": "b" * 64, "config": None}}, {"dtype": "bfloat16"}, {"device": "cuda"}):
        assert key != cache.cache_key(infos, {**MODEL_A, **change}, settings), change
    assert key != cache.cache_key(infos, MODEL_A, ReconstructSettings(mode="pad"))
    assert key != cache.cache_key(infos, MODEL_A, ReconstructSettings(query_points=[[1, 2]]))
    assert key != cache.cache_key(infos[:1], MODEL_A, settings)
    assert key != cache.cache_key([dataclasses.replace(infos[1], index=5)] + infos[1:], MODEL_A, settings)
    # A dict form of the settings (as stored in a Reconstruction) gives the same key.
    assert key == cache.cache_key(infos, MODEL_A, dataclasses.asdict(settings))
    st = os.stat(paths[0])
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched file -> new key
    assert key != cache.cache_key(infos, MODEL_A, settings)


def test_other_files_read_and_code_versions_are_part_of_the_key(tmp_path):
    write_images(tmp_path / "plate", ["a.png"])
    (matte,) = write_images(tmp_path / "mattes", ["m.png"])
    infos, settings = list_frames(tmp_path / "plate"), ReconstructSettings()
    key = cache.cache_key(infos, MODEL_A, settings, [matte], {"solve": 1})
    assert key != cache.cache_key(infos, MODEL_A, settings, [], {"solve": 1})
    assert key != cache.cache_key(infos, MODEL_A, settings, [matte], {"solve": 2})
    st = os.stat(matte)
    os.utime(matte, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a matte rendered again under its name
    assert key != cache.cache_key(infos, MODEL_A, settings, [matte], {"solve": 1})
    with pytest.raises(InputError, match="input not found"):
        cache.cache_key(infos, MODEL_A, settings, [tmp_path / "gone.png"])


def test_format_version_is_part_of_the_key(tmp_path, monkeypatch):
    write_images(tmp_path, ["a.png"])
    key = cache.cache_key(list_frames(tmp_path), MODEL_A, ReconstructSettings())
    monkeypatch.setattr(cache, "VERSION", cache.VERSION + 1)
    assert key != cache.cache_key(list_frames(tmp_path), MODEL_A, ReconstructSettings())


def _hub_cache(root, repo, payload: bytes, config: bytes | None = None):
    """A Hugging Face cache as huggingface_hub writes it: snapshot files are symlinks to blobs/<sha256>."""
    base = root / ("models--" + repo.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = base / "snapshots" / commit
    for d in (base / "blobs", snap, base / "refs"):
        d.mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    files = {"model.safetensors": payload, **({"config.json": config} if config is not None else {})}
    for name, data in files.items():
        blob = base / "blobs" / (hashlib.sha256(data).hexdigest() if name.endswith(".safetensors") else "c" * 40)
        blob.write_bytes(data)
        (snap / name).symlink_to(os.path.relpath(blob, snap))
    return snap / "model.safetensors"


def test_weights_identity_is_content_not_name(tmp_path, monkeypatch):
    """A repo id (online run), its resolved file in the HF cache (offline run) and a copy agree."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    resolved = _hub_cache(tmp_path / "hub", "someone/vggt", b"weights-one", b'{"depth": 1}')
    by_repo = cache.weights_identity("someone/vggt")
    assert by_repo == {"checkpoint": hashlib.sha256(b"weights-one").hexdigest(),
                       "config": hashlib.sha256(b'{"depth": 1}').hexdigest()}
    assert cache.weights_identity(str(resolved)) == by_repo  # offline: worker passes the resolved path
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "model.safetensors").write_bytes(b"weights-one")
    (copy / "config.json").write_bytes(b'{"depth": 1}')
    assert cache.weights_identity(str(copy / "model.safetensors")) == by_repo
    assert cache.weights_identity(str(copy)) == by_repo  # a folder means its model.safetensors
    (copy / "model.safetensors").write_bytes(b"weights-two")  # replaced in place -> new identity
    assert cache.weights_identity(str(copy))["checkpoint"] == hashlib.sha256(b"weights-two").hexdigest()
    # Weights that are not on this machine cannot be identified (yet).
    assert cache.weights_identity("someone/not-downloaded") is None
    assert cache.weights_identity(str(tmp_path / "missing.safetensors")) is None


def test_local_checkpoint_hash_is_remembered(tmp_path, monkeypatch):
    ckpt = tmp_path / "w.safetensors"
    ckpt.write_bytes(b"x" * 1000)
    hashed = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda fh, name: hashed.append(fh.name) or real(fh, name))
    monkeypatch.setattr(cache, "_memo", {})
    digest = cache.file_sha256(ckpt, memo_dir=tmp_path / "cache")
    assert digest == hashlib.sha256(b"x" * 1000).hexdigest() and len(hashed) == 1
    assert cache.file_sha256(ckpt, memo_dir=tmp_path / "cache") == digest and len(hashed) == 1
    monkeypatch.setattr(cache, "_memo", {})  # a new session: the memo file in the cache folder answers
    assert cache.file_sha256(ckpt, memo_dir=tmp_path / "cache") == digest and len(hashed) == 1
    st = os.stat(ckpt)
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched -> hashed again
    assert cache.file_sha256(ckpt, memo_dir=tmp_path / "cache") == digest and len(hashed) == 2


def test_derived_arrays_are_not_stored(tmp_path):
    recon = make_recon(frames=2, h=14, w=28, pad_rows=2)
    path = cache.save(recon, tmp_path / "r.npz")
    with np.load(path) as data:
        assert "points_from_depth" not in data.files and "valid" not in data.files
    back = cache.load(path)
    np.testing.assert_array_equal(back.points_from_depth, recon.points_from_depth)
    np.testing.assert_array_equal(back.valid, recon.valid)
    assert not back.valid[:, :2].any() and back.valid[:, 2:].all()


def test_usage_and_clear_touch_only_cache_files(tmp_path):
    folder = tmp_path / "vggt_cache"
    for i in range(2):
        cache.save(make_recon(), folder / f"{str(i) * 64}.npz")
    (folder / cache.WEIGHTS_MEMO).write_text("{}")
    (folder / "notes.txt").write_text("mine")
    (folder / "other.npz").write_bytes(b"x")
    count, size = cache.usage(folder)
    assert count == 2 and size == sum((folder / n).stat().st_size for n in ["0" * 64 + ".npz", "1" * 64 + ".npz",
                                                                            cache.WEIGHTS_MEMO])
    assert cache.clear(folder) == (2, size)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "other.npz"]
    (folder / "notes.txt").unlink()
    (folder / "other.npz").unlink()
    cache.save(make_recon(), folder / f"{'2' * 64}.npz")
    assert cache.clear(folder)[0] == 1 and not folder.exists()  # emptied -> removed
    assert cache.usage(folder) == (0, 0) and cache.clear(folder) == (0, 0)


def test_settings_serialise():
    settings = ReconstructSettings(FrameSelection(stride=2, indices=[4, 1]), "pad", 392, np.array([[3.5, 4.0]]))
    as_json = json.loads(json.dumps(dataclasses.asdict(settings)))
    assert ReconstructSettings.from_dict(as_json) == settings
    assert settings.query_points == ((3.5, 4.0),)


def test_a_file_under_two_keys_counts_once(tmp_path):
    folder = tmp_path / "vggt_cache"
    first = cache.save(make_recon(), folder / f"{'a' * 64}.npz")
    os.link(first, folder / f"{'b' * 64}.npz")  # how the pipeline stores an output the solve left as it was
    size = first.stat().st_size
    assert cache.usage(folder) == (1, size)
    assert cache.clear(folder) == (1, size) and not folder.exists()


def test_the_solved_lens_round_trips_in_a_solved_entry(tmp_path):
    """A solved entry stored beside its network output (``base``: only what the solve changed) keeps its lens, each
    frame's distortion exactly; the network output has none."""
    from vggt_core.reconstruction import Lens

    raw = make_recon(frames=3)
    lens = Lens("RADIAL", ((-0.1, 0.01), (-0.0625, 0.003), (-0.03125, 0.0)), shared=False)
    solved = dataclasses.replace(raw, extrinsics=raw.extrinsics * 1.0, solve={"lens": "zoom"}, lens=lens)
    raw_path = cache.save(raw, tmp_path / "raw.npz")
    back = cache.load(cache.save(solved, tmp_path / "solved.npz", base=(raw_path, raw)))
    assert back.lens == lens and back.lens.k.tolist() == [[-0.1, 0.01], [-0.0625, 0.003], [-0.03125, 0.0]]
    assert "depth" not in np.load(tmp_path / "solved.npz").files  # it did share the network's arrays
    assert cache.load(raw_path).lens is None
