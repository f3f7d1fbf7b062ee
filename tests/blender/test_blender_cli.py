"""``blender -b -c vggt ...`` = vggt_blender.cli.main(argv), called directly (the bpy module cannot dispatch -c)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).parent)]

from ext_helpers import write_images  # noqa: E402
from vggt_blender import cli, worker  # noqa: E402


def _one_error_line(capsys) -> str:
    """The single error line, which ends stderr (progress lines may precede it)."""
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("vggt: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    return errors[0]


@pytest.mark.parametrize("argv,needle", [
    ([], "required"),
    (["--images", "x", "--video", "y", "--out", "o.blend"], "not allowed with"),
    (["--images", "/nonexistent/dir", "--out", "o.blend"], "image folder not found"),
    (["--images", ".", "--out", "o.blend", "--weights", "/nonexistent.safetensors"], "checkpoint file not found"),
    (["--images", ".", "--out", "scene.txt"], ".blend"),
    (["--images", ".", "--out", "o.blend", "--stride", "0"], "stride"),
    (["--images", ".", "--out", "o.blend", "--mode", "squash"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, needle):
    assert cli.main(argv) == 2
    assert needle in _one_error_line(capsys)


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "--images" in capsys.readouterr().out


@pytest.fixture()
def ckpt(request, tmp_path) -> Path:
    """A tiny VGGT checkpoint (skips without torch: the tiny_model fixture needs it)."""
    pytest.importorskip("torch")
    from vggt_core.weights import save_checkpoint

    return save_checkpoint(request.getfixturevalue("tiny_model"), tmp_path / "tiny.safetensors")


def test_unreadable_video_is_a_one_line_error(capsys, tmp_path, ckpt):
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 100)
    n_objects = len(bpy.data.objects)
    rc = cli.main(["--video", str(tmp_path / "clip.mp4"), "--out", str(tmp_path / "o.blend"), "--weights", str(ckpt),
                   "--device", "cpu"])
    assert rc == 2
    assert "clip.mp4" in _one_error_line(capsys)
    assert not (tmp_path / "o.blend").exists() and len(bpy.data.objects) == n_objects


def test_images_to_blend_and_preview(tmp_path, ckpt, capsys):
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    write_images(tmp_path / "imgs", 3, size=(80, 60), ext="jpg")
    out, png = tmp_path / "out" / "scene.blend", tmp_path / "out" / "preview.png"
    rc = cli.main(["--images", str(tmp_path / "imgs"), "--out", str(out), "--weights", str(ckpt), "--device", "cpu",
                   "--proxy-every", "1", "--conf-percentile", "0", "--render", str(png), "--render-samples", "2",
                   "--render-width", "96"])
    assert rc == 0, capsys.readouterr().err
    worker.unload_engine()

    bpy.ops.wm.open_mainfile(filepath=str(out))
    cols = [c for c in bpy.data.collections if "vggt_settings" in c]
    assert len(cols) == 1 and Path(cols[0]["vggt_cache"]).is_file()
    assert Path(cols[0]["vggt_cache"]).parent == out.parent / "vggt_cache"
    objs = list(cols[0].all_objects)
    assert sum(o.type == "CAMERA" for o in objs) == 4
    assert sum(o.type == "MESH" and any(m.type == "NODES" for m in o.modifiers) for o in objs) == 1
    assert sum(o.type == "MESH" and not o.modifiers for o in objs) >= 1  # depth proxies
    assert not any(o.type == "LIGHT" or o.name == "Cube" for o in bpy.data.objects)  # started from an empty scene
    assert "VGGT preview" not in bpy.data.objects

    img = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32)
    assert img.shape == (72, 96, 3)
    background = np.median(img.reshape(-1, 3), axis=0)
    lit = np.abs(img - background).max(axis=2) > 10
    assert lit.mean() > 0.01  # the framed points cover part of the view
