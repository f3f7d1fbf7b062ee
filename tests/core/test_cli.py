"""``vggt-reconstruct``: outputs on success, exit code 1 with one "error: ..." line otherwise."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core_media import read_ply, write_images
from vggt_core.run import cache
from vggt_core.run.cli import ProgressLog, main
from vggt_core.network.weights import save_checkpoint

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def _run(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


def test_success_writes_everything_and_reuses_cache(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "in", ["a.png", "b.png", "c c.png", "d.png"], size=(112, 84))
    out = tmp_path / "out"
    args = [tmp_path / "in", "--out", out, "--weights", checkpoint, "--device", "cpu", "--dtype", "fp32",
            "--resolution", "112", "--max-frames", "3", "--conf-percentile", "20", "--max-points", "5000"]
    code, err = _run(args, capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 3 and summary["frame_indices"] == [0, 2, 3]
    assert summary["original_sizes"] == [[112, 84]] * 3 and summary["model_size_hw"] == [84, 112]
    assert {"frames", "preprocess", "model"} <= set(summary["timings_s"])
    recon = cache.load(out / "reconstruction.npz")
    assert recon.num_frames == 3
    ply = read_ply(out / "points.ply")
    assert len(ply) == summary["points"] == 5000  # 80% of 3 * 84 * 112 pixels pass, then the cap
    for name in ("cameras", "images", "points3D"):
        assert (out / "sparse" / "0" / f"{name}.bin").is_file() and (out / "sparse" / "0" / f"{name}.txt").is_file()
    pycolmap = pytest.importorskip("pycolmap")
    model = pycolmap.Reconstruction(str(out / "sparse" / "0"))
    assert len(model.images) == 3 and len(model.points3D) == len(ply)
    k = recon.intrinsics[0]
    np.testing.assert_allclose(model.cameras[1].params, [k[0, 0], k[1, 1], k[0, 2], k[1, 2]], rtol=1e-6)
    names = sorted(image.name for image in model.images.values())
    assert names == ["a.png", "c_c.png", "d.png"]
    for name in names:  # the COLMAP dataset layout trainers read: OUT/images/NAME next to OUT/sparse/0
        assert Image.open(out / "images" / name).size == (112, 84)
    # not a terminal: plain progress lines, at most one per 10 % of a stage, flushed as they come
    lines = err.splitlines()
    assert "vggt-reconstruct: frames 0%" in lines and "vggt-reconstruct: aggregator 100%" in lines
    assert len([line for line in lines if line.startswith("vggt-reconstruct: aggregator")]) <= 11

    code, err = _run(args + ["--export", "ply"], capsys)  # second run: cache hit
    assert code == 0, err
    assert "cache_load" in json.loads((out / "summary.json").read_text())["timings_s"]


def test_another_lens_re_solves_from_the_same_cache(tmp_path, checkpoint, capsys, monkeypatch):
    from vggt_core.network.engine import Engine

    network_runs = []
    predict = Engine.predict
    monkeypatch.setattr(Engine, "predict", lambda self, *a, **kw: network_runs.append(1) or predict(self, *a, **kw))
    write_images(tmp_path / "in", ["a.png", "b.png"], size=(112, 84))
    args = [tmp_path / "in", "--weights", checkpoint, "--device", "cpu", "--resolution", "112",
            "--export", "ply", "--cache-dir", tmp_path / "cache"]
    assert _run(args + ["--out", tmp_path / "o1"], capsys)[0] == 0
    code, err = _run(args + ["--out", tmp_path / "o2", "--lens", "known", "--focal-px", "100"], capsys)
    assert code == 0, err
    assert len(network_runs) == 1  # the second run only re-solved
    np.testing.assert_allclose(cache.load(tmp_path / "o2" / "reconstruction.npz").intrinsics[:, 0, 0], 100.0)
    # Settings these frames cannot take: one line, before the network runs.
    write_images(tmp_path / "mixed", ["a.png"], size=(112, 84))
    write_images(tmp_path / "mixed2", ["b.png"], size=(84, 112))
    code, err = _run([tmp_path / "mixed" / "a.png", tmp_path / "mixed2" / "b.png", "--out", tmp_path / "o3",
                      "--weights", checkpoint, "--device", "cpu", "--resolution", "112", "--lens", "shared"], capsys)
    assert code == 1 and "frames of one size" in err and len(err.strip().splitlines()) == 1
    assert len(network_runs) == 1


def test_user_errors_are_one_line_exit_1(tmp_path, checkpoint, capsys):
    (tmp_path / "empty").mkdir()
    code, err = _run([tmp_path / "empty", "--out", tmp_path / "o1", "--weights", checkpoint], capsys)
    assert code == 1 and err.startswith("error: no images") and err.count("\n") == 1

    write_images(tmp_path / "bad", ["a.png"])
    (tmp_path / "bad" / "b.jpg").write_bytes(b"not a jpeg at all")
    code, err = _run([tmp_path / "bad", "--out", tmp_path / "o2", "--weights", checkpoint, "--no-cache"], capsys)
    assert code == 1 and err.startswith("error: cannot read image") and "b.jpg" in err and err.count("\n") == 1

    code, err = _run([tmp_path / "bad", "--out", tmp_path / "o3", "--weights", tmp_path / "nope.safetensors"], capsys)
    assert code == 1 and err == f"error: weights file not found: {tmp_path / 'nope.safetensors'}\n"

    code, err = _run([tmp_path / "bad", "--out", tmp_path / "o4", "--start", "-3"], capsys)
    assert code == 1 and err.startswith("error: start frame")


def test_module_entry_point_no_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "vggt_core", str(tmp_path / "empty"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: no images (") and proc.stderr.count("\n") == 1
    assert proc.stderr.endswith(f" found in {tmp_path / 'empty'}\n")


def test_unusable_out_is_one_line_before_any_work(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "in", ["a.png"], size=(56, 42))
    (tmp_path / "file").write_text("x")
    for out, needle in [(tmp_path / "file", "is an existing file"), (tmp_path / "file" / "sub", "cannot write")]:
        code, err = _run([tmp_path / "in", "--out", out, "--weights", checkpoint], capsys)
        assert code == 1 and err.startswith("error: --out") and needle in err and err.count("\n") == 1, err
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device,needle", [("cuda", "'cuda' is not available"), ("cuda:1", "'cuda:1' is not"),
                                           ("tpu", "unknown device 'tpu'")])
def test_unusable_device_is_one_line(tmp_path, checkpoint, capsys, device, needle):
    write_images(tmp_path / "in", ["a.png"], size=(56, 42))
    code, err = _run([tmp_path / "in", "--out", tmp_path / "o", "--weights", checkpoint, "--device", device], capsys)
    assert code == 1 and err.startswith("error: ") and needle in err and err.count("\n") == 1, err


def test_progress_log_lines_when_not_a_terminal(capsys):
    with ProgressLog("p", label=str.upper) as log:
        for k in range(101):
            log("stage", k / 100)
        log("next", 0.05)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"p: STAGE {pct}%" for pct in range(0, 101, 10)] + ["p: NEXT 5%"]
    with ProgressLog("p", interval=0.0) as log:  # past the interval every new percentage is shown
        for frac in (0.0, 0.01, 0.02, 0.02):
            log("s", frac)
    assert capsys.readouterr().err.splitlines() == ["p: s 0%", "p: s 1%", "p: s 2%"]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="no pseudo-terminals here")
@pytest.mark.parametrize("columns", [0, 60])  # 0: a terminal that reports no size (docker run -t, script)
def test_progress_log_draws_one_bar_per_stage_on_a_terminal(monkeypatch, columns):
    import fcntl
    import select
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24 if columns else 0, columns, 0, 0))
    with open(slave, "w", encoding="utf-8", closefd=True) as tty:
        monkeypatch.setattr(sys, "stderr", tty)
        with ProgressLog("p", label=str.upper) as log:
            for k in range(101):
                log("network", k / 100)
            log("solve", 0.5)
        monkeypatch.undo()
    out = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal's other end is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    frames = [f for f in out.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n").split("\n") if f]
    assert not any(f.startswith("p: ") for f in frames), frames  # no plain lines on a terminal
    assert [f.split("%")[0] for f in frames if f.startswith("NETWORK")][-1] == "NETWORK: 100"
    done = next(f for f in reversed(frames) if f.startswith("NETWORK: 100%|"))
    assert done.endswith("%/s") and "<" in done  # elapsed<left, rate
    assert any(f.startswith("SOLVE:  50%|") for f in frames)
    assert max(map(len, frames)) <= (columns or 80)
