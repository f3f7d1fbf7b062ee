"""VSE strips and movie clips -> source frame indices + timeline frames (vggt_blender.sources).

Ground truth is Blender itself: the sequencer (or compositor) renders what the timeline shows at a
frame, and every test frame encodes its own source index as its grey level.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).parent)]

from vggt_core.errors import InputError  # noqa: E402
from vggt_core.frames import list_frames, read_frames  # noqa: E402
from vggt_blender import sources  # noqa: E402

from ext_helpers import write_video  # noqa: E402

LEVEL = 5  # grey level step per frame: frame i is grey 5*i (48 frames stay below 256)
W, H = 64, 48


def _write_video(path: Path, n: int) -> Path:
    pytest.importorskip("av", reason="PyAV encodes the test videos")
    return write_video(path, [LEVEL * i for i in range(n)], (W, H))


def _write_images(folder: Path, n: int) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"shot_{i + 1:04d}.png"
        Image.fromarray(np.full((H, W, 3), LEVEL * i, np.uint8)).save(p)
        paths.append(p)
    return paths


def _strips(se):
    return se.strips if hasattr(se, "strips") else se.sequences  # 5.0 / 4.2


@pytest.fixture()
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    r = sc.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = W, H, 100
    r.image_settings.file_format = "PNG"
    sc.view_settings.view_transform = "Standard"  # grey levels survive unchanged
    return sc


def _shown(sc, frame: int, tmp: Path) -> float:
    """Source index Blender shows at timeline ``frame`` (rendered grey level / LEVEL)."""
    from PIL import Image

    sc.frame_set(frame)
    sc.render.filepath = str(tmp / "shown.png")
    bpy.ops.render.render(write_still=True)
    return float(np.median(np.asarray(Image.open(tmp / "shown.png").convert("L")))) / LEVEL


def _decoded(path: str, indices) -> list[float]:
    """Source index the pipeline's reader sees at each of ``indices`` of ``path``."""
    from vggt_core.frames import FrameSelection

    frames = read_frames(list_frames(path, FrameSelection(indices=tuple(indices))))
    return [float(np.median(f)) / LEVEL for f in frames]


@pytest.mark.parametrize("offset,reverse", [(0, False), (3, False), (2, True)])
def test_movie_strip_visible_range(scene, tmp_path, offset, reverse):
    video = _write_video(tmp_path / "plate.mp4", 48)
    strip = _strips(scene.sequence_editor_create()).new_movie("plate", str(video), 1, 10)
    strip.animation_offset_start = offset
    strip.use_reverse_frames = reverse
    strip.frame_final_start, strip.frame_final_end = 15, 45  # trims on both sides
    scene.render.use_sequencer = True

    res = sources.from_strip(strip, scene, stride=3)
    timeline = list(res.plate.timeline_frames)
    assert timeline == list(range(15, 45, 3))
    assert res.inputs == str(video) and res.plate.movie == str(video)
    idx = list(res.selection.indices)
    expected = [t - 10 + offset for t in timeline]
    if reverse:
        expected = [(strip.frame_duration - 1 - (t - 10)) + offset for t in timeline]
    assert idx == expected
    # What Blender shows at each timeline frame is exactly the source frame we will reconstruct.
    for t, s in zip(timeline, idx):
        assert abs(_shown(scene, t, tmp_path) - s) < 0.5, (t, s)
    assert np.allclose(_decoded(str(video), idx), idx, atol=0.5)
    assert res.plate.fps == pytest.approx(24.0)


def test_movie_strip_max_frames_keeps_ends(scene, tmp_path):
    video = _write_video(tmp_path / "plate.mp4", 48)
    strip = _strips(scene.sequence_editor_create()).new_movie("plate", str(video), 1, 1)
    strip.frame_final_start, strip.frame_final_end = 6, 41  # source 5..39
    res = sources.from_strip(strip, scene, stride=1, max_frames=4)
    assert res.selection.indices[0] == 5 and res.selection.indices[-1] == 39
    assert len(res.selection.indices) == 4
    assert [t - s for t, s in zip(res.plate.timeline_frames, res.selection.indices)] == [1] * 4


def test_image_strip_visible_files(scene, tmp_path):
    files = _write_images(tmp_path / "seq", 10)
    strip = _strips(scene.sequence_editor_create()).new_image("seq", str(files[0]), 1, 20)
    for p in files[1:]:
        strip.elements.append(p.name)
    strip.frame_final_start, strip.frame_final_end = 22, 28  # elements 2..7
    scene.render.use_sequencer = True

    res = sources.from_strip(strip, scene, stride=2)
    assert res.plate.timeline_frames == (22, 24, 26)
    assert [Path(p).name for p in res.inputs] == [files[i].name for i in (2, 4, 6)]
    assert res.selection.indices is None and res.plate.images == res.inputs
    for t, i in zip(res.plate.timeline_frames, (2, 4, 6)):
        assert abs(_shown(scene, t, tmp_path) - i) < 0.5


def test_movie_clip_timeline_mapping(scene, tmp_path):
    video = _write_video(tmp_path / "clip.mp4", 40)
    clip = bpy.data.movieclips.load(str(video))
    clip.frame_start, clip.frame_offset = 7, 4
    res = sources.from_clip(clip, stride=5, start=2, end=20)
    assert list(res.selection.indices) == [2, 7, 12, 17]
    assert list(res.plate.timeline_frames) == [7 + s - 4 for s in (2, 7, 12, 17)]

    if not hasattr(scene, "compositing_node_group"):
        pytest.skip("compositor check written for the Blender 5.0 node-group API")
    # The compositor's Movie Clip node shows the clip the way the scene sees it at each frame.
    ng = bpy.data.node_groups.new("comp", "CompositorNodeTree")
    scene.compositing_node_group = ng
    node = ng.nodes.new("CompositorNodeMovieClip")
    node.clip = clip
    ng.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    ng.links.new(node.outputs["Image"], ng.nodes.new("NodeGroupOutput").inputs[0])
    scene.camera = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(scene.camera)
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    for t, s in zip(res.plate.timeline_frames, res.selection.indices):
        assert abs(_shown(scene, t, tmp_path) - s) < 0.5, (t, s)


def test_source_errors(scene, tmp_path):
    with pytest.raises(InputError, match="not found"):
        sources.from_folder(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="No image folder"):
        sources.from_folder("")
    video = _write_video(tmp_path / "v.mp4", 5)
    strip = _strips(scene.sequence_editor_create()).new_movie("v", str(video), 1, 1)
    strip.filepath = str(tmp_path / "gone.mp4")
    with pytest.raises(InputError, match="not found"):
        sources.from_strip(strip, scene)
    se = scene.sequence_editor
    span = {"length": 4} if hasattr(se, "strips") else {"frame_end": 5}  # 5.0 / 4.2 signature
    color = _strips(se).new_effect("c", "COLOR", 2, 1, **span)
    with pytest.raises(InputError, match="select a movie or image strip"):
        sources.from_strip(color, scene)
    clip = bpy.data.movieclips.load(str(video))
    with pytest.raises(InputError, match="select nothing"):
        sources.from_clip(clip, start=10)
