"""QC render on real bpy (headless Workbench + Blender's FFmpeg): the mp4 read back with PyAV.

The shot is synthetic (``synth_recon``: known cameras) with a few solved points; where a marker shows in a
rendered frame is compared with the points projected through the reconstruction's own K [R|t] (original
pixels, centres at +0.5), not through Blender.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")
av = pytest.importorskip("av", reason="PyAV is not installed")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(Path(__file__).parent)]

from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.operators import qc_ops  # noqa: E402

W, H, S = 256, 192, 4
PLATE_RGB = (60, 70, 110)  # no red in it: the markers are found by colour
POINTS = np.array([(sx * 0.2, sy * 0.15, 0.8) for sx in (-1, 1) for sy in (-1, 1)], np.float32)


def _import(tmp_path: Path, gradient: bool = False):
    from PIL import Image

    bpy.ops.wm.read_homefile(use_empty=True)
    folder = tmp_path / "plate"
    folder.mkdir(parents=True)
    paths = []
    for n in range(1001, 1001 + S):
        plate = np.empty((H, W, 3), np.uint8)
        plate[:] = PLATE_RGB
        if gradient:
            plate[..., 2] = np.arange(W)
        Image.fromarray(plate).save(folder / f"shot.{n}.png")
        paths.append(str(folder / f"shot.{n}.png"))
    recon = make_recon([(W, H)] * S, image_paths=paths, fx_fy=[(40.0, 40.0)] * S)
    obs = np.array([(f, p) for p in range(len(POINTS)) for f in range(S)], np.int32)
    recon = dataclasses.replace(recon, sparse_points=POINTS, sparse_colors=np.zeros((len(POINTS), 3), np.uint8),
                                sparse_obs=obs, sparse_uv=np.zeros((len(obs), 2), np.float32))
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, conf_percentile=0.0, locators=10),
                                bpy.context.scene)
    return next(o for o in col.objects if o.get("vggt_root")), recon


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def _projections(recon, i: int) -> np.ndarray:
    """[P, 2] continuous plate pixels of the solved points in frame i (K [R|t] X)."""
    ext, k = recon.extrinsics[i].astype(np.float64), recon.intrinsics[i].astype(np.float64)
    xc = POINTS.astype(np.float64) @ ext[:3, :3].T + ext[:3, 3]
    uv = xc @ k.T
    return uv[:, :2] / uv[:, 2:]


def _marker_centroid(img: np.ndarray, near: np.ndarray, window: int = 14) -> np.ndarray | None:
    """Centroid (continuous pixels: index + 0.5) of the red marker pixels within ``window`` px of ``near``."""
    a = img.astype(int)
    red = (a[..., 0] > 140) & (a[..., 0] - a[..., 1] > 60) & (a[..., 0] - a[..., 2] > 80)
    ys, xs = np.nonzero(red)
    keep = np.hypot(xs + 0.5 - near[0], ys + 0.5 - near[1]) < window
    if keep.sum() < 3:
        return None
    return np.array([xs[keep].mean() + 0.5, ys[keep].mean() + 0.5])


def _state(scene) -> tuple:
    r = scene.render
    return (r.engine, r.filepath, r.image_settings.file_format, r.use_stamp, r.use_stamp_date, r.resolution_percentage,
            scene.display.shading.light, scene.view_settings.view_transform, scene.frame_current, scene.camera,
            len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.materials),
            len([i for i in bpy.data.images if i.type != "RENDER_RESULT"]),  # Blender's own, made by any render
            sorted(o.name for o in bpy.data.objects if o.hide_render))


def test_qc_render_shows_the_points_where_the_solve_puts_them(tmp_path):
    root, recon = _import(tmp_path)
    scene = bpy.context.scene
    before = _state(scene)
    path = Path(qc_ops.render_qc(bpy.context, root, str(tmp_path / "qc" / "shot_qc.mp4")))
    assert _state(scene) == before  # overlay removed, the artist's settings back
    frames = _frames(path)
    assert len(frames) == S and frames[0].shape == (H, W, 3)
    checked = 0
    for i, img in enumerate(frames):
        for want in _projections(recon, i):
            if not (12 < want[0] < W - 12 and 12 < want[1] < H - 30):  # clear of the edges and the stamp
                continue
            got = _marker_centroid(img, want)
            assert got is not None, (i, want)
            assert np.hypot(*(got - want)) < 2.0, (i, got, want)
            checked += 1
    assert checked >= 3 * S
    # the plate shows behind the overlay, and the frame number is burnt in at the bottom left
    np.testing.assert_allclose(frames[0][H // 2, 4], PLATE_RGB, atol=12)
    assert (frames[0][H - 20:, :80].min(axis=2) > 200).any()
    assert not (frames[0][:40, :100].min(axis=2) > 200).any()  # nothing else stamped (date, file... go top left)


def test_qc_render_over_the_undistorted_plate_and_refusals(tmp_path):
    """With solved distortion the plate behind the pinhole camera is the undistorted one: a plate whose blue is
    its column (x) shows, at a rendered pixel p, the blue of the plate pixel the lens distorts p to."""
    from vggt_core import Lens
    from vggt_core.deliver.lens_package import lens_from_reconstruction

    root, recon = _import(tmp_path, gradient=True)
    recon = dataclasses.replace(recon, solve={"lens": "shared"}, lens=Lens.fixed("SIMPLE_RADIAL", S, k1=-0.4))
    lens = lens_from_reconstruction(recon)
    assert lens.model == "SIMPLE_RADIAL" and lens.overscan() > 1.02
    frames = _frames(Path(qc_ops.render_qc(bpy.context, root, str(tmp_path / "qc.mp4"), recon)))
    assert len(frames) == S
    for want in _projections(recon, 0):  # the markers sit where the pinhole camera puts them
        got = _marker_centroid(frames[0], want)
        assert got is not None and np.hypot(*(got - want)) < 2.0, (got, want)
    for x, y in ((16, 20), (W - 16, 20), (16, H // 2 + 20)):
        seen = frames[0][y - 2:y + 3, x - 2:x + 3, 2].astype(float).mean()
        source = lens.distort(np.array([[x + 0.5, y + 0.5]]))[0, 0] - 0.5  # the plate column shown there
        assert abs(seen - source) < 4 and abs(seen - x) > 6, (x, y, seen, source)
    with pytest.raises(ValueError, match="mp4"):
        qc_ops.render_qc(bpy.context, root, str(tmp_path / "qc.mov"))


def test_blender_cli_qc_render(tmp_path, ckpt, capsys):
    """``blender -b -c vggt ... --qc-render``: the mp4 over the keyed frames (1001-1005, stride 2), listed in the
    summary; a wrong extension is refused before the model runs."""
    import json

    import torch
    from PIL import Image

    from ext_helpers import write_images
    from vggt_blender.command_line import cli
    from vggt_blender.runs import worker

    torch.set_num_threads(1)
    imgs = write_images(tmp_path / "src", 5, size=(56, 42))
    (tmp_path / "plate").mkdir()
    for i, p in enumerate(sorted(imgs.iterdir())):
        Image.open(p).save(tmp_path / "plate" / f"shot.{1001 + i}.png")
    base = ["--images", str(tmp_path / "plate"), "--out", str(tmp_path / "scene.blend")]
    assert cli.main([*base, "--qc-render", str(tmp_path / "qc.mov")]) == 1
    assert "--qc-render must name an .mp4 file" in capsys.readouterr().err
    qc = tmp_path / "qc" / "shot_qc.mp4"
    rc = cli.main([*base, "--weights", str(ckpt), "--device", "cpu", "--stride", "2", "--no-proxies",
                   "--qc-render", str(qc)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    worker.unload_engine()
    assert str(qc) in json.loads(captured.out.strip().splitlines()[-1])["files"]
    assert len(_frames(qc)) == 5


def test_qc_render_over_a_movie_plate_in_step(tmp_path):
    """A movie plate (a strip's frames 240, 245, 250, as ``sources.from_strip`` gives): every rendered frame f
    shows movie frame f - 240 (grey level 16 (f - 240)); with no solved points the markers are the cloud's."""
    from ext_helpers import write_video

    bpy.ops.wm.read_homefile(use_empty=True)
    video = write_video(tmp_path / "plate.mp4", list(range(0, 240, 16)), size=(96, 64))
    recon = make_recon([(96, 64)] * 3, video=str(video), indices=[0, 5, 10], fx_fy=[(40.0, 40.0)] * 3)
    plate = convert.PlateSettings(movie=str(video), timeline_frames=(240, 245, 250))
    col = import_reconstruction(recon, convert.ImportSettings(depth_proxies=False, conf_percentile=0.0, plate=plate),
                                bpy.context.scene)
    root = next(o for o in col.objects if o.get("vggt_root"))
    frames = _frames(Path(qc_ops.render_qc(bpy.context, root, str(tmp_path / "qc.mp4"))))
    assert len(frames) == 11
    for k, img in enumerate(frames):
        a = img.astype(int)
        grey = (abs(a[..., 0] - a[..., 1]) < 8) & (abs(a[..., 1] - a[..., 2]) < 8)
        assert abs(np.median(a[grey][:, 1]) - 16 * k) < 6, k
    red = [(f.astype(int)[..., 0] - f.astype(int)[..., 2] > 80).sum() for f in frames]
    assert min(red) > 0  # cloud markers drawn



def _green_sequencer(scene) -> str:
    se = scene.sequence_editor_create()
    strips = se.strips if hasattr(se, "strips") else se.sequences  # 5.0 / 4.2
    span = {"length": 3000} if hasattr(se, "strips") else {"frame_end": 3001}
    strips.new_effect("edit", "COLOR", 1, 1, **span).color = (0.0, 1.0, 0.0)
    return "use_sequencer"  # the render setting that shows it


def _green_compositor(scene) -> str:
    if hasattr(scene, "compositing_node_group"):  # 5.0: a node group of the scene's
        tree = bpy.data.node_groups.new("comp", "CompositorNodeTree")
        tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        out = tree.nodes.new("NodeGroupOutput").inputs[0]
        scene.compositing_node_group = tree
    else:  # 4.2: the scene's own tree, with its Composite node
        scene.use_nodes = True
        tree = scene.node_tree
        out = next(n for n in tree.nodes if n.type == "COMPOSITE").inputs[0]
    rgb = tree.nodes.new("CompositorNodeRGB")
    rgb.outputs[0].default_value = (0.0, 1.0, 0.0, 1.0)
    tree.links.new(rgb.outputs[0], out)
    return "use_compositing"


@pytest.mark.parametrize("make_edit", [_green_sequencer, _green_compositor], ids=["sequencer", "compositor"])
def test_qc_render_renders_the_overlay_not_the_edit(tmp_path, make_edit):
    """A scene with strips in its sequencer (the plate as the *Active Strip* source, in the same scene) or a
    compositor renders them instead of the 3D scene: the QC render turns them off meanwhile and puts the
    artist's settings back. Both output green here, neither plate nor marker."""
    root, recon = _import(tmp_path)
    scene = bpy.context.scene
    attr = make_edit(scene)
    assert getattr(scene.render, attr)
    before = _state(scene)
    frames = _frames(Path(qc_ops.render_qc(bpy.context, root, str(tmp_path / "qc.mp4"))))
    assert _state(scene) == before and getattr(scene.render, attr)
    assert len(frames) == S
    np.testing.assert_allclose(frames[0][H // 2, 4], PLATE_RGB, atol=12)  # the plate, not the green
    want = next(p for p in _projections(recon, 0) if 12 < p[0] < W - 12 and 12 < p[1] < H - 30)
    got = _marker_centroid(frames[0], want)
    assert got is not None and np.hypot(*(got - want)) < 2.0, (got, want)
