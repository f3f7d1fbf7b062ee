"""``blender -b -c vggt ...`` = vggt_blender.command_line.cli.main(argv), called directly (the bpy module cannot dispatch -c)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).parent)]

from ext_helpers import fcurves, write_images  # noqa: E402
from vggt_blender.command_line import cli  # noqa: E402
from vggt_blender.runs import worker  # noqa: E402


def _one_error_line(capsys) -> str:
    """The single error line, which ends stderr (progress lines may precede it)."""
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("vggt: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    return errors[0]


@pytest.mark.parametrize("argv,needle", [
    ([], "required"),
    (["--images", "x", "--video", "y", "--out", "o.blend"], "not allowed with"),
    (["--images", ".", "--out", "o.blend", "--mode", "squash"], "invalid choice"),
    (["--images", "."], "--out is required"),
    (["--images", ".", "--out", "o.blend", "--shot", "3"], "--shot and --shot-index need --manifest"),
    (["--images", ".", "--out", "o.blend", "--shot-index", "3"], "--shot and --shot-index need --manifest"),
    (["--manifest", "m.csv", "--shot", "a", "--shot-index", "0", "--out", "o"], "not allowed with"),
    (["--images", ".", "--out", "o.blend", "--options=--fps 4 --bogus"],
     "--options '--fps 4 --bogus': unrecognized arguments: --bogus"),
    (["--images", ".", "--out", "o.blend", "--options=--out x.blend"], "--out cannot be set here"),
    (["--images", ".", "--out", "o.blend", "--options=--fps=4 --name 'open"], "unclosed quote"),
    (["--images", ".", "--out", "o.blend", "--options=-h"], "--help is not an option here"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, needle):
    assert cli.main(argv) == 2
    assert needle in _one_error_line(capsys)


@pytest.mark.parametrize("argv,needle", [
    (["--images", "/nonexistent/dir", "--out", "o.blend"], "image folder not found"),
    (["--images", ".", "--out", "o.blend", "--weights", "/nonexistent.safetensors"], "checkpoint file not found"),
    (["--images", ".", "--out", "scene.txt"], ".blend"),
    (["--images", ".", "--out", "o.blend", "--stride", "0"], "stride"),
    (["--images", ".", "--out", "o.blend", "--fps", "0"], "fps"),
    (["--images", ".", "--out", "o.blend", "--scale", "0"], "--scale"),
    (["--images", ".", "--into", "/nonexistent.blend"], "--into file not found"),
    (["--images", ".", "--into", __file__], "not a .blend file"),
])
def test_bad_values_exit_1_with_one_line(capsys, argv, needle):
    assert cli.main(argv) == 1
    assert needle in _one_error_line(capsys)


def test_unusable_outputs_fail_before_the_model_runs(capsys, tmp_path):
    """No --weights: were the model reached, the default repo's download would fail with another message."""
    imgs = write_images(tmp_path / "imgs", 1)
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir.blend").mkdir()
    for extra, needle in [(["--out", str(tmp_path / "file" / "o.blend")], "is an existing file, not a folder"),
                          (["--out", str(tmp_path / "dir.blend")], "is a folder"),
                          (["--out", str(tmp_path / "o.blend"), "--export-colmap", str(tmp_path / "file")],
                           "--export-colmap: "),
                          (["--out", str(tmp_path / "o.blend"), "--render", str(tmp_path / "file" / "sub" / "p.png")],
                           "--render: cannot write")]:
        assert cli.main(["--images", str(imgs), *extra]) == 1
        assert needle in _one_error_line(capsys)
    assert worker.loaded_model() is None and not (tmp_path / "o.blend").exists()


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    assert "--images" in capsys.readouterr().out


@pytest.fixture()
def ckpt(request, tmp_path) -> Path:
    """A tiny VGGT checkpoint (skips without torch: the tiny_model fixture needs it)."""
    pytest.importorskip("torch")
    from vggt_core.network.weights import save_checkpoint

    return save_checkpoint(request.getfixturevalue("tiny_model"), tmp_path / "tiny.safetensors")


def test_unreadable_video_is_a_one_line_error(capsys, tmp_path, ckpt):
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 100)
    n_objects = len(bpy.data.objects)
    rc = cli.main(["--video", str(tmp_path / "clip.mp4"), "--out", str(tmp_path / "o.blend"), "--weights", str(ckpt),
                   "--device", "cpu"])
    assert rc == 1
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


def _vggt_collection() -> bpy.types.Collection:
    cols = [c for c in bpy.data.collections if "vggt_settings" in c]
    assert len(cols) == 1, [c.name for c in cols]
    return cols[0]


def test_device_cuda_without_cuda_is_one_line(capsys, tmp_path, ckpt):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    imgs = write_images(tmp_path / "imgs", 2)
    rc = cli.main(["--images", str(imgs), "--out", str(tmp_path / "o.blend"), "--weights", str(ckpt), "--device", "cuda"])
    assert rc == 1
    assert "device 'cuda' is not available" in _one_error_line(capsys)
    assert worker.loaded_model() is None and not (tmp_path / "o.blend").exists()


def test_video_fps_colmap_scale_sensor(tmp_path, ckpt, capsys):
    import pycolmap
    import torch
    from PIL import Image

    from ext_helpers import write_video

    torch.set_num_threads(1)
    video = write_video(tmp_path / "my clip.mp4", list(range(0, 240, 8)), size=(64, 48), rate=10)  # 30 frames, 3 s
    out, colmap = tmp_path / "scene.blend", tmp_path / "colmap"
    rc = cli.main(["--video", str(video), "--out", str(out), "--weights", str(ckpt), "--device", "cpu", "--fps", "1",
                   "--no-proxies", "--export-colmap", str(colmap), "--scale", "2.5", "--sensor-width", "24"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "vggt: Running the network 100%" in err.splitlines()  # not a terminal: plain progress lines
    worker.unload_engine()

    model = pycolmap.Reconstruction(str(colmap / "sparse" / "0"))
    names = [model.images[k + 1].name for k in range(len(model.images))]
    assert names == [f"my_clip_{i:06d}.png" for i in (1, 11, 21)]  # 1 of the video's 10 frames per second
    for name in names:
        assert Image.open(colmap / "images" / name).size == (64, 48)

    bpy.ops.wm.open_mainfile(filepath=str(out))
    objs = list(_vggt_collection().all_objects)
    cams = [o for o in objs if o.type == "CAMERA"]
    assert len(cams) == 3 + 1 and all(c.data.sensor_width == 24 for c in cams)
    root = next(o for o in objs if o.parent is None)
    assert tuple(root.scale) == pytest.approx((2.5, 2.5, 2.5))


def test_numbered_sequence_exports_on_its_frame_numbers(tmp_path, ckpt, capsys):
    """shot.1001.png ... keys the camera, the .chan, COLMAP and the summary on 1001...; the lens package beside."""
    import json

    import torch
    from PIL import Image

    torch.set_num_threads(1)
    imgs = write_images(tmp_path / "src", 5, size=(56, 42))
    (tmp_path / "plate").mkdir()
    for i, p in enumerate(sorted(imgs.iterdir())):
        Image.open(p).save(tmp_path / "plate" / f"shot.{1001 + i}.png")
    out, chan, lens = tmp_path / "scene.blend", tmp_path / "cam.chan", tmp_path / "lens"
    rc = cli.main(["--images", str(tmp_path / "plate"), "--out", str(out), "--weights", str(ckpt), "--device", "cpu",
                   "--stride", "2", "--no-proxies", "--no-points", "--export-camera", str(chan),
                   "--export-lens", str(lens)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    worker.unload_engine()
    np.testing.assert_array_equal(np.loadtxt(chan)[:, 0], range(1001, 1006))
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["frame_numbers"] == [1001, 1003, 1005] and summary["interpolated_frames"] == [1002, 1004]
    assert summary["lens"]["model"] == "PINHOLE" and (lens / "stmap_undistort.exr").is_file()
    assert cli.main(["--images", str(tmp_path / "plate"), "--out", str(out), "--undistort-plate"]) == 1
    assert "--undistort-plate needs --export-lens" in _one_error_line(capsys)


def test_a_gap_in_the_sequence_keeps_its_numbers_and_the_report_follows_start_at(tmp_path, ckpt, capsys):
    """shot.1001-1004, 1006, 1007 (1005 missing): the camera's keys, the plate behind it, the .chan, the .nk,
    COLMAP, the summary and the solve report on the file numbers; again with --frame-start 101 (a re-solve of
    the cached network output): the keys and the report both on 101..."""
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    numbers = [1001, 1002, 1003, 1004, 1006, 1007]
    imgs = write_images(tmp_path / "src", len(numbers), size=(56, 42))
    (tmp_path / "plate").mkdir()
    for n, p in zip(numbers, sorted(imgs.iterdir())):
        Image.open(p).save(tmp_path / "plate" / f"shot.{n}.png")
    chan, nk, colmap = tmp_path / "cam.chan", tmp_path / "qc.nk", tmp_path / "colmap"
    base = ["--images", str(tmp_path / "plate"), "--weights", str(ckpt), "--device", "cpu", "--no-proxies",
            "--no-points", "--lens", "shared"]

    def run(*extra: str) -> tuple[dict, list[int]]:
        out = tmp_path / f"scene{len(extra)}.blend"
        rc = cli.main([*base, "--out", str(out), *extra])
        captured = capsys.readouterr()
        assert rc == 0, captured.err
        bpy.ops.wm.open_mainfile(filepath=str(out))
        cam = bpy.context.scene.camera
        keys = [int(k.co[0]) for k in next(f for f in fcurves(cam) if f.data_path == "location").keyframe_points]
        return json.loads(captured.out.strip().splitlines()[-1]), keys

    record, keys = run("--export-camera", str(chan), "--export-camera", str(nk), "--export-colmap", str(colmap))
    assert keys == record["frame_numbers"] == record["solve"]["frame_numbers"] == numbers
    assert record["interpolated_frames"] == [1005]
    iu = bpy.context.scene.camera.data.background_images[0].image_user  # file n at frame n
    assert (iu.frame_start, iu.frame_offset) == (1001, 1000)
    np.testing.assert_array_equal(np.loadtxt(chan)[:, 0], range(1001, 1008))
    text = nk.read_text()
    assert " first_frame 1001" in text and " last_frame 1007" in text and " x1006 " in text
    assert sorted(p.name for p in (colmap / "images").iterdir()) == [f"shot.{n}.png" for n in numbers]
    record, keys = run("--frame-start", "101")
    assert keys == record["frame_numbers"] == record["solve"]["frame_numbers"] == [101, 102, 103, 104, 106, 107]
    worker.unload_engine()


def test_into_existing_blend(tmp_path, ckpt, capsys):
    import torch

    torch.set_num_threads(1)
    imgs = write_images(tmp_path / "imgs", 2)
    bpy.ops.wm.read_homefile(use_factory_startup=True)
    bpy.context.scene.name = "Shot"
    into = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(into))
    before = into.read_bytes()
    base = ["--images", str(imgs), "--weights", str(ckpt), "--device", "cpu", "--no-proxies", "--into", str(into)]

    assert cli.main([*base, "--out", str(tmp_path / "copy.blend")]) == 0, capsys.readouterr().err
    assert into.read_bytes() == before  # with --out the --into file is only read
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "copy.blend"))
    assert bpy.context.scene.name == "Shot" and "Cube" in bpy.data.objects
    assert _vggt_collection().name in bpy.context.scene.collection.children

    assert cli.main(base) == 0, capsys.readouterr().err  # no --out: saved back, the old version kept as .blend1
    worker.unload_engine()
    assert (tmp_path / "shot.blend1").read_bytes() == before
    bpy.ops.wm.open_mainfile(filepath=str(into))
    assert "Cube" in bpy.data.objects and _vggt_collection()


# Runs in a fresh interpreter with its own user folder holding a customised startup file.
FACTORY_PROBE = textwrap.dedent("""
    import json, sys
    sys.path[:0] = [REPO, HERE]
    import bpy, addon_utils
    addon_utils.enable("vggt_blender", default_set=True)
    import vggt_blender
    from ext_helpers import write_images
    scene = bpy.context.scene
    scene.unit_settings.system, scene.render.engine = "IMPERIAL", "BLENDER_WORKBENCH"
    bpy.ops.wm.save_homefile()  # the user's startup file: a batch job must not inherit it
    from vggt_blender.command_line import cli
    imgs = write_images(__import__("pathlib").Path(TMP) / "imgs", 2)
    rc = cli.main(["--images", str(imgs), "--out", TMP + "/o.blend", "--weights", CKPT, "--device", "cpu",
                   "--no-proxies"])
    out = {"rc": rc, "registered": hasattr(bpy.types, "VGGT_OT_run"), "cli": vggt_blender._cli_handle is not None}
    bpy.ops.wm.open_mainfile(filepath=TMP + "/o.blend")
    out["units"], out["engine"] = bpy.context.scene.unit_settings.system, bpy.context.scene.render.engine
    addon_utils.disable("vggt_blender", default_set=True)
    print("PROBE:" + json.dumps(out))
""")


def test_new_scene_starts_from_factory_settings(tmp_path, ckpt):
    code = "".join(f"{k} = {str(v)!r}\n" for k, v in
                   {"REPO": REPO, "HERE": Path(__file__).parent, "TMP": tmp_path, "CKPT": ckpt}.items()) + FACTORY_PROBE
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("PROBE:")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = json.loads(line[len("PROBE:"):])
    assert out["engine"] != "BLENDER_WORKBENCH"  # the factory default, not the user's engine
    assert {**out, "engine": None} == {"rc": 0, "registered": True, "cli": True, "units": "METRIC", "engine": None}


@pytest.mark.parametrize("lens", ["auto", "zoom"])
def test_solved_distortion_undistorts_the_plate_in_the_run(tmp_path, ckpt, capsys, lens):
    """``--refine ba --distortion k1`` on the bundled plate: the run's worker undistorts every frame into
    ``vggt_undistorted/`` beside ``--out`` (named in the final record), and the saved scene's animated camera is
    the overscan camera over those files. With ``--lens zoom`` the lens package has a focal and a pair of ST-maps
    per plate frame and the camera's lens is keyed on every frame."""
    import json

    import torch

    torch.set_num_threads(1)
    out = tmp_path / "shot" / "scene.blend"
    rc = cli.main(["--images", str(REPO / "examples" / "orbit" / "images"), "--out", str(out), "--weights", str(ckpt),
                   "--device", "cpu", "--max-frames", "6", "--refine", "ba", "--distortion", "k1", "--no-proxies",
                   "--track-refine", "none",  # the random model's tracks are not on the plate: refined, all are dropped
                   "--lens", lens, "--export-lens", str(tmp_path / "lens"),
                   *(["--redistort-scene", str(tmp_path / "redistort")] if lens == "zoom" else [])])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    worker.unload_engine()
    record = json.loads(captured.out.strip().splitlines()[-1])
    folder = Path(record["undistorted_plate"])
    assert folder.parent == tmp_path / "shot" / "vggt_undistorted" and record["solve"]["camera_model"] == "SIMPLE_RADIAL"
    assert len(list(folder.glob("undistorted.*.png"))) == 12  # the 6 frames span the plate's 12: all undistorted
    bpy.ops.wm.open_mainfile(filepath=str(out))
    cam = bpy.context.scene.camera
    wo, ho, w, h = cam["vggt_overscan"]  # the random model's k1 decides how much (pincushion: none)
    assert [wo, ho] == record["lens"]["overscan_size"] and (w, h) == (480, 270) and record["lens"]["k1"] != 0
    assert (bpy.context.scene.render.resolution_x, bpy.context.scene.render.resolution_y) == (wo, ho)
    assert Path(bpy.path.abspath(cam.data.background_images[0].image.filepath)).parent == folder
    if lens == "zoom":
        keyed = sorted(int(n) for n in record["lens"]["focal_per_frame"])
        assert record["solve"]["lens"] == "zoom" and len(keyed) == 6
        span = range(keyed[0], keyed[-1] + 1)
        maps = sorted(p.name for p in (tmp_path / "lens").glob("stmap_undistort.*.exr"))
        assert maps == [f"stmap_undistort.{n:04d}.exr" for n in span]
        lens_keys = next(f for f in fcurves(cam.data) if f.data_path == "lens").keyframe_points
        assert [int(k.co[0]) for k in lens_keys] == list(span)
        # the saved .blend holds the redistort scene, plate-sized, over the camera's frames, reading its maps
        red = next(sc for sc in bpy.data.scenes if "vggt_redistort" in sc)
        assert red["vggt_redistort"] == str(tmp_path / "redistort") and (red.frame_start, red.frame_end) == (span[0], span[-1])
        assert (red.render.resolution_x, red.render.resolution_y) == (480, 270)
        assert sorted(p.name for p in (tmp_path / "redistort").glob("stmap_redistort.*.exr")) == [
            f"stmap_redistort.{n:04d}.exr" for n in span]
