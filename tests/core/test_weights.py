"""Checkpoint loading: local .safetensors/.pt files, the Hugging Face cache and error messages."""
from __future__ import annotations

import json
import time

import httpx2
import huggingface_hub
import pytest
import torch
from huggingface_hub import errors as hf_errors
from safetensors.torch import save_file

from vggt_core.network import weights
from vggt_core.errors import Cancelled, WeightsError
from vggt_core.network.models.vggt import VGGT, VGGTConfig

X = torch.rand(2, 3, 28, 42, generator=torch.Generator().manual_seed(0))


def same_model(a: VGGT, b: VGGT) -> None:
    assert a.config == b.config
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    with torch.inference_mode():
        assert torch.equal(a(X)["depth"], b(X)["depth"])


def test_resolve_source(monkeypatch):
    monkeypatch.delenv("VGGT_WEIGHTS", raising=False)
    assert weights.resolve_source(None) == "facebook/VGGT-1B"
    monkeypatch.setenv("VGGT_WEIGHTS", "/models/v.safetensors")
    assert weights.resolve_source(None) == "/models/v.safetensors"
    assert weights.resolve_source("facebook/VGGT-1B-Commercial") == "facebook/VGGT-1B-Commercial"


def test_is_local_source(tmp_path):
    assert not weights.is_local_source("facebook/VGGT-1B")
    assert weights.is_local_source("ckpt.pt") and weights.is_local_source("./a/b")
    assert weights.is_local_source(str(tmp_path))


def test_safetensors_round_trip_keeps_config(tiny_model, tmp_path):
    path = weights.save_checkpoint(tiny_model, tmp_path / "tiny.safetensors")
    loaded = weights.load_model(str(path))
    assert loaded.config == VGGTConfig.tiny() and not loaded.training
    same_model(loaded, tiny_model)
    assert all(p.device.type == "cpu" for p in loaded.parameters())


def test_safetensors_with_sibling_config_json(tiny_model, tmp_path):
    save_file({k: v.contiguous() for k, v in tiny_model.state_dict().items()}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({**tiny_model.config.to_dict(), "unknown_key": 1}))
    same_model(weights.load_model(str(tmp_path)), tiny_model)  # a folder means its model.safetensors


@pytest.mark.parametrize("wrap", ["plain", "model", "state_dict", "ddp"])
def test_pt_checkpoints(tiny_model, tmp_path, wrap):
    sd = tiny_model.state_dict()
    payload = {
        "plain": sd,
        "model": {"model": sd, "epoch": 3},
        "state_dict": {"state_dict": sd},
        "ddp": {f"module.{k}": v for k, v in sd.items()},
    }[wrap]
    path = tmp_path / "ckpt.pth"
    torch.save(payload, path)
    same_model(weights.load_model(str(path), config=VGGTConfig.tiny()), tiny_model)


def test_missing_file_and_bad_files(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        weights.load_model(str(tmp_path / "nope.safetensors"))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable"):
        weights.load_model(str(bad))
    bad_pt = tmp_path / "bad.pt"
    bad_pt.write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="not a loadable"):
        weights.load_model(str(bad_pt))


def test_key_and_shape_mismatch_lists_keys(tiny_model, tmp_path):
    sd = dict(tiny_model.state_dict())
    sd.pop("camera_head.empty_pose_tokens")
    sd["extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pt"
    torch.save(sd, path)
    with pytest.raises(WeightsError, match=r"1 missing: camera_head.empty_pose_tokens; 1 unexpected: extra.weight"):
        weights.load_model(str(path), config=VGGTConfig.tiny())
    # A tiny checkpoint without any config is read as VGGT-1B: wrong shapes, reported as such.
    torch.save(tiny_model.state_dict(), path)
    with pytest.raises(WeightsError, match="wrong shape"):
        weights.load_model(str(path))


def fake_response(status: int) -> httpx2.Response:
    return httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/x"))


def test_gated_repo_message(monkeypatch):
    def gated(repo, filename, **kw):
        raise hf_errors.GatedRepoError("gated", response=fake_response(403))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", gated)
    with pytest.raises(WeightsError) as info:
        weights.load_model("facebook/VGGT-1B", token=None)
    msg = str(info.value)
    assert "access to facebook/VGGT-1B must be requested" in msg and "https://huggingface.co/facebook/VGGT-1B" in msg
    assert "HF_TOKEN" in msg and "\n" not in msg


def test_offline_not_cached_message(monkeypatch):
    calls = []

    def offline(repo, filename, **kw):
        calls.append((filename, kw["local_files_only"]))
        raise hf_errors.LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="--weights PATH") as info:
        weights.load_model("facebook/VGGT-1B-Commercial")
    assert "connected machine" in str(info.value)
    assert calls == [("model.safetensors", True), ("vggt_1B_commercial.pt", True)]


def test_commercial_repo_falls_back_to_pt(monkeypatch, tiny_model, tmp_path):
    torch.save(tiny_model.state_dict(), tmp_path / "vggt_1B_commercial.pt")
    (tmp_path / "config.json").write_text(json.dumps(tiny_model.config.to_dict()))
    tried = []

    def download(repo, filename, token=None, local_files_only=False):
        tried.append(filename)
        if filename == "model.safetensors":
            raise hf_errors.RemoteEntryNotFoundError("404", response=fake_response(404))
        return str(tmp_path / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    same_model(weights.load_model("facebook/VGGT-1B-Commercial", token="t"), tiny_model)
    assert tried == ["model.safetensors", "vggt_1B_commercial.pt", "config.json"]


def _populate_hub_cache(tmp_path, model, repo: str = "someone/tiny-vggt"):
    """A Hugging Face cache laid out as huggingface_hub writes it, holding `model` for `repo`."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = tmp_path / "hub" / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)
    weights.save_checkpoint(model, snap / "model.safetensors")
    return tmp_path / "hub"


def test_real_hub_cache_offline(monkeypatch, tiny_model, tmp_path):
    """huggingface_hub itself resolves a pre-populated cache with HF_HUB_OFFLINE=1."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(_populate_hub_cache(tmp_path, tiny_model)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    same_model(weights.load_model("someone/tiny-vggt"), tiny_model)
    with pytest.raises(WeightsError, match="not cached"):
        weights.load_model("someone/absent-repo")


def test_cached_copy_is_used_without_network(monkeypatch, tiny_model, tmp_path):
    """Online mode, but the weights are cached: no request is made (the hub download is never called online)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(_populate_hub_cache(tmp_path, tiny_model)))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    real = huggingface_hub.hf_hub_download
    online = []

    def download(repo, filename, **kw):
        if not kw.get("local_files_only"):
            online.append(filename)
        return real(repo, filename, **kw)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    same_model(weights.load_model("someone/tiny-vggt"), tiny_model)
    assert online == []


def _slow_hub(monkeypatch, target, chunks: int = 200, delay: float = 0.02):
    """A hub whose cache is empty and whose download streams `chunks` updates through `tqdm_class`."""
    state = {"updates": 0, "finished": False, "stopped": None}

    def download(repo, filename, token=None, local_files_only=False, tqdm_class=None):
        if local_files_only:
            raise hf_errors.LocalEntryNotFoundError("not cached")
        if filename == "config.json":
            raise hf_errors.RemoteEntryNotFoundError("404", response=fake_response(404))
        try:
            with tqdm_class(total=chunks * 10, initial=0, disable=True) as bar:
                for _ in range(chunks):
                    time.sleep(delay)
                    bar.update(10)
                    state["updates"] += 1
        except Cancelled as err:
            state["stopped"] = err
            raise
        state["finished"] = True
        return str(target)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return state


def test_download_reports_progress(monkeypatch, tiny_model, tmp_path):
    path = weights.save_checkpoint(tiny_model, tmp_path / "model.safetensors")
    _slow_hub(monkeypatch, path, chunks=20, delay=0.0)
    seen = []
    model = weights.load_model("someone/tiny", config=VGGTConfig.tiny(), progress=lambda s, f: seen.append((s, f)))
    same_model(model, tiny_model)
    download = [f for s, f in seen if s == "download"]
    load = [f for s, f in seen if s == "load"]
    assert len(download) == 20 and download == sorted(download) and download[-1] == 1.0
    assert load[-1] == 1.0 and load == sorted(load) and seen.index(("download", 1.0)) < seen.index(("load", load[0]))


def test_download_cancels_within_a_second(monkeypatch, tmp_path):
    state = _slow_hub(monkeypatch, tmp_path / "never.safetensors", chunks=500, delay=0.02)  # a 10 s download
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        weights.download_from_hub("someone/big", cancel=lambda: time.monotonic() - t0 > 0.3)
    assert time.monotonic() - t0 < 0.6
    time.sleep(0.2)  # the transfer itself stops at its next chunk
    assert isinstance(state["stopped"], Cancelled) and not state["finished"] and state["updates"] < 50


def test_loading_cancels_between_tensors(tiny_model, tmp_path):
    path = weights.save_checkpoint(tiny_model, tmp_path / "model.safetensors")
    seen = []
    with pytest.raises(Cancelled):
        weights.load_model(str(path), progress=lambda s, f: seen.append(f), cancel=lambda: len(seen) >= 3)
    assert len(seen) == 3


def test_locate_never_downloads(monkeypatch, tiny_model, tmp_path):
    _slow_hub(monkeypatch, tmp_path / "x.safetensors")
    assert weights.locate("someone/not-cached") is None
    assert weights.locate(str(tmp_path / "missing.safetensors")) is None
    path = weights.save_checkpoint(tiny_model, tmp_path / "m" / "model.safetensors")
    assert weights.locate(str(path)) == (path, None)
    (path.parent / "config.json").write_text("{}")
    assert weights.locate(str(path.parent)) == (path, path.parent / "config.json")


def test_loading_and_tracking_never_import_dynamo(tiny_model, tmp_path):
    """Building the model on the meta device must not pull in torch._dynamo (and with it triton): in
    Blender 5.2 that import crashes the process after a compositor render. A fresh interpreter, so
    other tests' imports don't count."""
    import subprocess
    import sys

    path = weights.save_checkpoint(tiny_model, tmp_path / "tiny.safetensors")
    probe = (
        "import sys, numpy as np\n"
        "from vggt_core.network.engine import Engine\n"
        f"e = Engine({str(path)!r}, device='cpu')\n"
        "e.predict(np.random.rand(2, 3, 28, 28).astype(np.float32), query_points=np.array([[3., 4.]], np.float32))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('torch._dynamo', 'triton'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
