"""Frame sources: folders, file lists and videos; selection; decoding details; one-line errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core_media import decoded_index, decoded_level, frame_level, gradient_image, write_images, write_video
from vggt_core.errors import Cancelled, InputError
from vggt_core.plate.frames import FrameSelection, list_frames, natural_key, read_frames, read_image


def test_folder_natural_sort_case_insensitive_and_skips(tmp_path):
    write_images(tmp_path, ["img10.png", "img2.PNG", "IMG1.jpg", "img3.tiff", "a.webp", "b.bmp", ".hidden.png"])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub.png").mkdir()  # a folder with an image-like name is not an image
    infos = list_frames(tmp_path)
    names = [p.rsplit("/", 1)[-1] for p in (i.source for i in infos)]
    assert names == ["a.webp", "b.bmp", "IMG1.jpg", "img2.PNG", "img3.tiff", "img10.png"]
    assert [i.index for i in infos] == list(range(6))
    assert all(i.timestamp is None and (i.width, i.height) == (64, 48) for i in infos)


def test_natural_key_orders_numbers_numerically():
    assert sorted(["f10", "f9", "F1", "f100", "f09b"], key=natural_key) == ["F1", "f9", "f09b", "f10", "f100"]


def test_explicit_list_keeps_order_and_pixels_are_exact(tmp_path):
    paths = write_images(tmp_path, ["b.png", "a.png", "c.png"])
    infos = list_frames([paths[2], paths[0]])
    assert [i.source for i in infos] == [str(paths[2]), str(paths[0])]
    frames = read_frames(infos)
    np.testing.assert_array_equal(frames[0], gradient_image(64, 48, seed=2))
    np.testing.assert_array_equal(frames[1], gradient_image(64, 48, seed=0))


def test_sixteen_bit_grey_and_rgb(tmp_path):
    grey = (np.arange(48 * 64).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    Image.fromarray(grey).save(tmp_path / "g16.tif")
    for name in ("g16.png", "g16.tif"):
        out = read_image(tmp_path / name)
        assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
        np.testing.assert_array_equal(out[..., 0], (grey >> 8).astype(np.uint8))
        np.testing.assert_array_equal(out[..., 0], out[..., 2])
    assert read_image(tmp_path / "g16.png").max() > 200  # full range kept, not clipped to white


def test_grey_and_rgba_on_white(tmp_path):
    grey = gradient_image(64, 48)[..., 0]
    Image.fromarray(grey).save(tmp_path / "grey.png")
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png"), np.repeat(grey[..., None], 3, axis=2))

    rgb = gradient_image(64, 48, seed=3)
    alpha = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (48, 1))
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "rgba.png")
    a = alpha[..., None] / 255.0
    expected = rgb * a + 255.0 * (1 - a)
    out = read_image(tmp_path / "rgba.png")
    assert np.abs(out.astype(float) - expected).max() <= 1.0
    assert (out[:, 0] == 255).all()  # fully transparent column is white, not black


def _write_oiio(path, pixels, fmt, **attributes):
    import OpenImageIO as oiio

    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, fmt)
    for name, value in attributes.items():
        spec.attribute(name, value)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(pixels) and out.close()


def test_exr_linear_to_display_srgb(tmp_path):
    # Linear 0.18 (mid grey) is sRGB 118; above 1 clips to white; channels keep their order.
    lin = np.array([[[0.0, 0.18, 1.0], [4.0, 0.0, 0.18], [0.5, 0.5, 0.5]]], np.float32)
    alpha = np.array([[[1.0], [1.0], [0.5]]], np.float32)  # premultiplied: 0.5 grey at 50% over white -> 1.0
    _write_oiio(tmp_path / "b.exr", np.concatenate([lin, alpha], axis=2), "half")
    _write_oiio(tmp_path / "a.exr", np.repeat(np.repeat(lin, 4, axis=0), 2, axis=1), "float")
    infos = list_frames(tmp_path)
    assert [(i.source.rsplit("/", 1)[-1], i.width, i.height) for i in infos] == [("a.exr", 6, 4), ("b.exr", 3, 1)]
    a, b = read_frames(infos)
    assert a.dtype == np.uint8 and a.shape == (4, 6, 3)
    np.testing.assert_array_equal(a[0, ::2], [[0, 118, 255], [255, 0, 118], [188, 188, 188]])
    np.testing.assert_array_equal(b[0], [[0, 118, 255], [255, 0, 118], [255, 255, 255]])


def test_dpx_ten_bit_code_values_and_linear_transfer(tmp_path):
    codes = np.array([[[0, 512, 1023], [1023, 256, 0]]], np.uint16) * 64  # 10-bit codes, 16-bit scale
    _write_oiio(tmp_path / "video.dpx", codes, "uint16", **{"oiio:BitsPerSample": 10, "dpx:Transfer": "ITU-R 709-4"})
    _write_oiio(tmp_path / "lin.dpx", codes, "uint16", **{"oiio:BitsPerSample": 10, "dpx:Transfer": "Linear"})
    (info,) = list_frames(tmp_path / "video.dpx")
    assert (info.width, info.height) == (2, 1)
    np.testing.assert_array_equal(read_frames([info])[0], [[[0, 128, 255], [255, 64, 0]]])  # codes as they are
    np.testing.assert_array_equal(read_image(tmp_path / "lin.dpx"), [[[0, 188, 255], [255, 137, 0]]])  # sRGB-encoded
    (tmp_path / "cut.dpx").write_bytes((tmp_path / "lin.dpx").read_bytes()[:1000])  # inside the header
    with pytest.raises(InputError, match="cannot read image .*cut.dpx"):
        read_image(tmp_path / "cut.dpx")


def test_exif_orientation_applied(tmp_path):
    img = gradient_image(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90 degrees clockwise for display
    Image.fromarray(img).save(tmp_path / "rot.png", exif=exif)
    (info,) = list_frames(tmp_path / "rot.png")
    assert (info.width, info.height) == (20, 40)
    out = read_frames([info])[0]
    np.testing.assert_array_equal(out, np.rot90(img, k=-1))  # k=-1: clockwise


def test_missing_empty_corrupt(tmp_path):
    with pytest.raises(InputError, match="input not found"):
        list_frames(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no images \(jpg/png.*\) found in .*empty"):
        list_frames(tmp_path / "empty")
    bad = tmp_path / "bad"
    write_images(bad, ["ok.png"])
    (bad / "broken.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(InputError, match="cannot read image .*broken.jpg") as exc:
        read_frames(list_frames(bad))
    assert "\n" not in str(exc.value)
    data = (bad / "ok.png").read_bytes()
    (bad / "broken.jpg").unlink()
    (bad / "truncated.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated.png"):
        read_frames(list_frames(bad))


def test_image_selection(tmp_path):
    write_images(tmp_path, [f"f{i}.png" for i in range(10)], size=(16, 12))
    idx = lambda **kw: [i.index for i in list_frames(tmp_path, FrameSelection(**kw))]  # noqa: E731
    assert idx(stride=3) == [0, 3, 6, 9]
    assert idx(start=2, end=6) == [2, 3, 4, 5]
    assert idx(start=1, end=9, stride=2) == [1, 3, 5, 7]
    assert idx(max_frames=4) == [0, 3, 6, 9]
    assert idx(max_frames=1) == [0]
    assert idx(indices=[7, 2, 5]) == [7, 2, 5]
    assert idx(fps=2.0) == list(range(10))  # fps only applies to videos
    with pytest.raises(InputError, match="picks no frames"):
        list_frames(tmp_path, FrameSelection(start=20))
    with pytest.raises(InputError, match="out of range"):
        list_frames(tmp_path, FrameSelection(indices=[3, 10]))
    for bad in (dict(stride=0), dict(start=-1), dict(start=5, end=5), dict(max_frames=0), dict(fps=0)):
        with pytest.raises(InputError):
            FrameSelection(**bad)


@pytest.mark.parametrize("codec,suffix", [("libx264", ".mp4"), ("mpeg4", ".avi")])
def test_video_frames_identity_and_selection(tmp_path, codec, suffix):
    video = write_video(tmp_path / f"clip{suffix}", n=30, rate=10, codec=codec)
    infos = list_frames(video)
    assert [i.index for i in infos] == list(range(30))
    assert [i.timestamp for i in infos] == pytest.approx([i / 10 for i in range(30)])
    assert (infos[0].width, infos[0].height) == (64, 48)
    frames = read_frames(infos)
    assert [abs(decoded_level(f) - frame_level(i)) <= 4 for i, f in enumerate(frames)] == [True] * 30

    def levels(sel):
        chosen = list_frames(video, sel)
        got = [decoded_level(f) for f in read_frames(chosen)]
        assert all(abs(g - frame_level(i.index)) <= 4 for g, i in zip(got, chosen)), (got, chosen)
        return [i.index for i in chosen]

    assert levels(FrameSelection(stride=7)) == [0, 7, 14, 21, 28]
    assert levels(FrameSelection(start=12, end=15)) == [12, 13, 14]
    assert levels(FrameSelection(max_frames=4)) == [0, 10, 19, 29]
    assert levels(FrameSelection(fps=5)) == list(range(0, 30, 2))
    assert levels(FrameSelection(fps=3, start=10)) == [10, 13, 17, 20, 23, 27]
    assert levels(FrameSelection(indices=(21, 4, 25))) == [21, 4, 25]  # seeks, keeps the given order


def test_video_seeks_across_gaps_and_repeats(tmp_path, monkeypatch):
    import vggt_core.plate.video as video_mod

    monkeypatch.setattr(video_mod, "SEEK_GAP", 3)  # force seeking between the far-apart frames below
    video = write_video(tmp_path / "gop.mp4", n=30, gop=5)
    infos = list_frames(video, FrameSelection(indices=(26, 2, 12, 2, 13, 29)))
    got = [decoded_level(f) for f in read_frames(infos)]
    assert all(abs(g - frame_level(i)) <= 4 for g, i in zip(got, (26, 2, 12, 2, 13, 29))), got


def test_video_demuxed_once_until_the_file_changes(tmp_path, monkeypatch):
    import vggt_core.plate.video as video_mod

    demuxed = []
    real = video_mod._video_timing
    monkeypatch.setattr(video_mod, "_video_timing", lambda c, p: demuxed.append(p) or real(c, p))
    video = write_video(tmp_path / "once.mp4", n=12)
    infos = list_frames(video)
    for chunk in (infos[:6], infos[4:]):  # each chunk of a chunked run decodes on its own
        read_frames(chunk)
    assert len(demuxed) == 1
    write_video(video, n=7)  # new size/mtime: numbered afresh
    assert len(list_frames(video)) == 7 and len(demuxed) == 2


def test_video_rotation_metadata(tmp_path):
    video = write_video(tmp_path / "portrait.mp4", rotation=90)
    (info,) = list_frames(video, FrameSelection(max_frames=1))
    assert (info.width, info.height) == (48, 64)
    frame = read_frames([info])[0]
    assert frame.shape == (64, 48, 3)
    # ffmpeg shows a +90 display matrix as a counter-clockwise turn: the top-left marker ends bottom-left.
    assert frame[-6:, :6].min() > 200 and frame[:6, :6].max() < 60


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])  # stream duration / container duration
def test_video_with_dropped_frames_is_numbered_like_blender(tmp_path, suffix):
    # 24 fps, frames 10-12 never written: Blender counts 33 frames and holds frame 9 over the gap.
    video = write_video(tmp_path / f"gap{suffix}", n=33, rate=24, drop=(10, 11, 12))
    infos = list_frames(video)
    assert [i.index for i in infos] == list(range(33))
    assert [i.timestamp for i in infos] == pytest.approx([n / 24 for n in range(33)])
    shown = [n if n not in (10, 11, 12) else 9 for n in range(33)]
    assert [decoded_index(f) for f in read_frames(infos)] == shown
    chosen = list_frames(video, FrameSelection(indices=(31, 11, 13, 2, 12)))
    assert [decoded_index(f) for f in read_frames(chosen)] == [31, 9, 13, 2, 9]


def test_raw_h264_stream_without_timestamps(tmp_path):
    video = write_video(tmp_path / "raw.h264", n=20, rate=24, fmt="h264")
    infos = list_frames(video)
    assert [i.index for i in infos] == list(range(20))
    assert [i.timestamp for i in infos] == pytest.approx([n / 24 for n in range(20)])
    assert [decoded_index(f) for f in read_frames(infos)] == list(range(20))
    chosen = list_frames(video, FrameSelection(indices=(17, 3, 18)))
    assert [decoded_index(f) for f in read_frames(chosen)] == [17, 3, 18]


def test_corrupt_video_and_cancel(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 64 + b"garbage" * 100)
    with pytest.raises(InputError, match="cannot read video .*broken.mp4"):
        list_frames(bad)
    video = write_video(tmp_path / "clip.mp4", n=10)
    infos = list_frames(video)
    calls = []
    with pytest.raises(Cancelled):
        read_frames(infos, progress=calls.append, cancel=lambda: len(calls) >= 3)
    assert len(calls) == 3
