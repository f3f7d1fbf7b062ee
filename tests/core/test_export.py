"""PLY and COLMAP exports read back with independent readers (a numpy PLY parser, pycolmap)."""
from __future__ import annotations

import numpy as np
import pytest

import dataclasses
import os

from PIL import Image

from core_media import decoded_level, frame_level, make_recon, read_ply, write_images, write_video
from vggt_core.deliver.colmap import image_names, rotation_to_quaternion, write_colmap, write_colmap_dataset
from vggt_core.deliver.ply import write_ply
from vggt_core.deliver.points import select_points
from vggt_core.plate.frames import FrameSelection, list_frames, read_image
from vggt_core.reconstruction import FrameInfo, Lens


def test_ply_round_trip(tmp_path):
    pts = select_points(make_recon(), conf_percentile=30)
    v = read_ply(write_ply(tmp_path / "p.ply", pts))
    assert v.dtype.names == ("x", "y", "z", "red", "green", "blue", "confidence")
    np.testing.assert_array_equal(np.stack([v["x"], v["y"], v["z"]], 1), pts.xyz)
    np.testing.assert_array_equal(np.stack([v["red"], v["green"], v["blue"]], 1), pts.rgb)
    np.testing.assert_array_equal(v["confidence"], pts.conf)
    empty = read_ply(write_ply(tmp_path / "e.ply", pts.subset(np.zeros(0, int))))
    assert len(empty) == 0


@pytest.mark.parametrize("seed", range(4))
def test_quaternion(seed):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=4)
    if seed == 3:
        q = np.array([1e-3, 0.0, 1.0, 0.0])  # near 180 degrees: the trace-based formula breaks down
    q /= np.linalg.norm(q)
    q *= np.sign(q[0])
    w, x, y, z = q
    rot = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])
    np.testing.assert_allclose(rotation_to_quaternion(rot), q, atol=1e-12)


def test_image_names_unique():
    frames = [FrameInfo("/a/x.jpg", 0, None, 4, 4), FrameInfo("/v/clip.mp4", 12, 0.4, 4, 4)]
    assert image_names(frames) == ["x.jpg", "clip_000013.png"]
    dup = [FrameInfo("/a/x.jpg", 0, None, 4, 4), FrameInfo("/b/x.jpg", 1, None, 4, 4)]
    assert image_names(dup) == ["00000_x.jpg", "00001_x.jpg"]
    spaced = [FrameInfo("/a/my photo\t1.jpg", 0, None, 4, 4), FrameInfo("/v/my clip.mp4", 3, 0.1, 4, 4)]
    assert image_names(spaced) == ["my_photo_1.jpg", "my_clip_000004.png"]
    assert image_names(spaced, as_png=[True, True]) == ["my_photo_1.png", "my_clip_000004.png"]


@pytest.mark.parametrize("fmt", ["bin", "txt"])
def test_colmap_names_with_spaces_read_back(tmp_path, fmt):
    """COLMAP's text reader splits a line on spaces: "my photo.jpg" would come back as "my"."""
    pycolmap = pytest.importorskip("pycolmap")
    recon = make_recon(frames=2)
    recon = dataclasses.replace(recon, frames=[dataclasses.replace(f, source=f"/shots/day 1/my photo {k}.jpg")
                                               for k, f in enumerate(recon.frames)])
    out = write_colmap(tmp_path, recon, binary=fmt == "bin", text=fmt == "txt")
    model = pycolmap.Reconstruction(str(out))
    assert sorted(im.name for im in model.images.values()) == ["my_photo_0.jpg", "my_photo_1.jpg"]


@pytest.mark.parametrize("fmt", ["bin", "txt"])
def test_colmap_read_back_with_pycolmap(tmp_path, fmt):
    pycolmap = pytest.importorskip("pycolmap")
    recon = make_recon(frames=3, pad_rows=4)
    pts = select_points(recon, conf_percentile=50, max_points=500)
    out = write_colmap(tmp_path / "sparse", recon, pts, binary=fmt == "bin", text=fmt == "txt")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.{fmt}" for n in ("cameras", "images", "points3D"))
    model = pycolmap.Reconstruction(str(out))
    assert (len(model.cameras), len(model.images), len(model.points3D)) == (3, 3, len(pts))
    for image_id, image in model.images.items():
        s = image_id - 1
        assert image.name == f"img_{s:03d}.jpg"
        cam = model.cameras[image.camera_id]
        assert cam.model.name == "PINHOLE"
        assert (cam.width, cam.height) == (recon.frames[s].width, recon.frames[s].height)
        k = recon.intrinsics[s]
        np.testing.assert_allclose(cam.params, [k[0, 0], k[1, 1], k[0, 2], k[1, 2]], rtol=1e-6)
        np.testing.assert_allclose(image.cam_from_world().matrix(), recon.extrinsics[s], atol=1e-6)
    xyz = np.array([model.points3D[i + 1].xyz for i in range(len(pts))])
    rgb = np.array([model.points3D[i + 1].color for i in range(len(pts))])
    np.testing.assert_allclose(xyz, pts.xyz, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(rgb, pts.rgb)


def test_colmap_dataset_writes_the_frames_it_names(tmp_path):
    """images/ holds every named frame at original resolution: video frames decoded to PNG, rotated photos
    re-encoded upright, plain photos hard-linked; sparse/0 names exactly those files."""
    pycolmap = pytest.importorskip("pycolmap")
    video = write_video(tmp_path / "my clip.mp4", n=20, rate=10, size=(64, 48))
    photos = write_images(tmp_path / "ds" / "images", ["plain shot.png", "rotated.jpg", "plain.png", "flat.bmp"],
                          size=(40, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    Image.open(photos[1]).save(photos[1], exif=exif)
    frames = list_frames(video, FrameSelection(stride=7)) + list_frames(photos)
    assert [(f.width, f.height) for f in frames[-4:]] == [(40, 30), (30, 40), (40, 30), (40, 30)]
    recon = make_recon(frames=len(frames))
    recon = dataclasses.replace(recon, frames=frames)

    root = write_colmap_dataset(tmp_path / "dataset", recon)
    model = pycolmap.Reconstruction(str(root / "sparse" / "0"))
    names = [model.images[k + 1].name for k in range(len(frames))]
    assert names[:3] == ["my_clip_000001.png", "my_clip_000008.png", "my_clip_000015.png"]
    assert names[3:] == ["plain_shot.png", "rotated.png", "plain.png", "flat.png"]
    assert sorted(os.listdir(root / "images")) == sorted(names)
    for k, (frame, name) in enumerate(zip(frames, names)):
        img = np.asarray(Image.open(root / "images" / name))
        assert img.shape[:2] == (frame.height, frame.width) == (model.cameras[k + 1].height, model.cameras[k + 1].width)
        if frame.timestamp is not None:
            assert abs(decoded_level(img) - frame_level(frame.index)) <= 3
    assert os.path.samefile(root / "images" / "plain_shot.png", photos[0])
    np.testing.assert_array_equal(np.asarray(Image.open(root / "images" / "rotated.png")), read_image(photos[1]))

    write_colmap_dataset(tmp_path / "ds", recon)  # writing into the input folder itself keeps the inputs
    assert np.array_equal(np.asarray(Image.open(photos[2])), np.asarray(Image.open(root / "images" / "plain.png")))


def test_distorted_colmap_dataset_is_undistorted_for_trainers(tmp_path):
    """A RADIAL solve: sparse/0 holds PINHOLE cameras on undistorted images (pycolmap's undistorter), the
    distorted model and images stay in distorted/."""
    import dataclasses

    import pycolmap
    from PIL import Image

    from synth_recon import make_recon as synth_recon

    paths = []
    for i in range(3):
        paths.append(tmp_path / "plate" / f"shot.{1001 + i}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)).save(paths[-1])
    recon = synth_recon([(64, 48)] * 3, image_paths=[str(p) for p in paths], fx_fy=[(40.0, 40.0)] * 3)
    recon = dataclasses.replace(recon, solve={"lens": "shared"}, lens=Lens.fixed("RADIAL", 3, -0.2, 0.02))
    root = write_colmap_dataset(tmp_path / "ds", recon)
    model = pycolmap.Reconstruction(str(root / "sparse" / "0"))
    assert {c.model.name for c in model.cameras.values()} == {"PINHOLE"}
    assert (root / "sparse" / "0" / "cameras.txt").is_file()
    names = sorted(i.name for i in model.images.values())
    assert names == [p.name for p in paths] and sorted(os.listdir(root / "images")) == names
    cam = next(iter(model.cameras.values()))
    assert Image.open(root / "images" / names[0]).size == (cam.width, cam.height)
    kept = pycolmap.Reconstruction(str(root / "distorted" / "sparse" / "0"))
    assert kept.cameras[1].model.name == "RADIAL" and kept.cameras[1].params[3] == pytest.approx(-0.2)
    assert sorted(os.listdir(root / "distorted" / "images")) == names
    assert not [p for p in os.listdir(root) if p.startswith(".")]  # no temporary folder left


def test_colmap_export_reads_each_frames_lens_of_a_zoom(tmp_path):
    """Two frames of a zoom with their own k1 (``Reconstruction.lens``): a camera each with its own k1, and points
    whose observations are pycolmap's projections through those cameras stored with no reprojection error (frame
    0's k1 on frame 1 would miss by over a pixel)."""
    import pycolmap

    from synth_recon import make_recon as synth_recon

    recon = synth_recon([(630, 420)] * 2, fx_fy=[(40.0, 40.0)] * 2)  # the model's aspect: square pixels
    lens = Lens("SIMPLE_RADIAL", ((-0.05, 0.0), (-0.2, 0.0)), shared=False)
    k = recon.intrinsics.astype(np.float64)
    cams = [pycolmap.Camera(model="SIMPLE_RADIAL", width=630, height=420, params=[k[s, 0, 0], k[s, 0, 2], k[s, 1, 2], k1])
            for s, (k1, _) in enumerate(lens.distortion)]
    rng = np.random.default_rng(0)
    points = np.array([0.1, 0.05, 2.0]) + rng.uniform(-1, 1, (20, 3)) * [1, 1, 0.3]  # in front of both cameras
    ext = recon.extrinsics.astype(np.float64)
    uv = np.stack([cams[s].img_from_cam(points @ ext[s, :, :3].T + ext[s, :, 3]) for s in range(2)])
    obs = np.array([(s, p) for s in range(2) for p in range(20)], np.int32)
    recon = dataclasses.replace(recon, solve={"lens": "zoom"}, lens=lens, sparse_points=points.astype(np.float32),
                                sparse_colors=np.zeros((20, 3), np.uint8), sparse_obs=obs,
                                sparse_uv=uv[obs[:, 0], obs[:, 1]].astype(np.float32))
    model = pycolmap.Reconstruction(write_colmap(tmp_path, recon, text=False))
    assert [(c.model.name, c.params[3]) for _, c in sorted(model.cameras.items())] == [
        ("SIMPLE_RADIAL", -0.05), ("SIMPLE_RADIAL", -0.2)]
    assert max(p.error for p in model.points3D.values()) < 1e-3
    assert np.abs(cams[0].img_from_cam(points @ ext[1, :, :3].T + ext[1, :, 3]) - uv[1]).max() > 1.0
