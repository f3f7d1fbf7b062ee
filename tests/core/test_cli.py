"""``vggt-reconstruct``: outputs on success, exit code 2 with one "error: ..." line otherwise."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core_media import read_ply, write_images
from vggt_core import cache
from vggt_core.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    weights = pytest.importorskip("vggt_core.weights")
    pytest.importorskip("vggt_core.engine", reason="vggt_core.engine not written yet")
    return weights.save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def _run(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


def test_success_writes_everything_and_reuses_cache(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "in", ["a.png", "b.png", "c.png", "d.png"], size=(112, 84))
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

    code, err = _run(args + ["--export", "ply"], capsys)  # second run: cache hit
    assert code == 0, err
    assert "cache_load" in json.loads((out / "summary.json").read_text())["timings_s"]


def test_user_errors_are_one_line_exit_2(tmp_path, checkpoint, capsys):
    (tmp_path / "empty").mkdir()
    code, err = _run([tmp_path / "empty", "--out", tmp_path / "o1", "--weights", checkpoint], capsys)
    assert code == 2 and err.startswith("error: no images") and err.count("\n") == 1

    write_images(tmp_path / "bad", ["a.png"])
    (tmp_path / "bad" / "b.jpg").write_bytes(b"not a jpeg at all")
    code, err = _run([tmp_path / "bad", "--out", tmp_path / "o2", "--weights", checkpoint, "--no-cache"], capsys)
    assert code == 2 and err.startswith("error: cannot read image") and "b.jpg" in err and err.count("\n") == 1

    code, err = _run([tmp_path / "bad", "--out", tmp_path / "o3", "--weights", tmp_path / "nope.safetensors"], capsys)
    assert code == 2 and err == f"error: weights file not found: {tmp_path / 'nope.safetensors'}\n"

    code, err = _run([tmp_path / "bad", "--out", tmp_path / "o4", "--start", "-3"], capsys)
    assert code == 2 and err.startswith("error: start frame")


def test_module_entry_point_no_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "vggt_core", str(tmp_path / "empty"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"error: no images (jpg/png/tif/webp/bmp) found in {tmp_path / 'empty'}\n"
