"""VSE strips and movie clips -> source frame indices + timeline frames (vggt_blender.runs.sources).

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
from vggt_core.plate.frames import list_frames, read_frames  # noqa: E402
from vggt_blender.runs import sources  # noqa: E402

from ext_helpers import write_video  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "core"))
import core_media  # noqa: E402

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
def scene(scene):
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = W, H, 100
    r.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"  # grey levels survive unchanged
    return scene


def _shown(sc, frame: int, tmp: Path) -> float:
    """Source index Blender shows at timeline ``frame`` (rendered grey level / LEVEL)."""
    from PIL import Image

    sc.frame_set(frame)
    sc.render.filepath = str(tmp / "shown.png")
    bpy.ops.render.render(write_still=True)
    return float(np.median(np.asarray(Image.open(tmp / "shown.png").convert("L")))) / LEVEL


def _decoded(path: str, indices) -> list[float]:
    """Source index the pipeline's reader sees at each of ``indices`` of ``path``."""
    from vggt_core.plate.frames import FrameSelection

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
    # Every 3rd timeline frame is every 3rd movie frame, backwards when reversed. (Where the content
    # sits differs by version: 5.2 moves frame_start when animation_offset_start changes.)
    assert np.diff(idx).tolist() == [-3 if reverse else 3] * (len(idx) - 1)
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

    _compositor_shows_clip(scene, clip)
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


def _compositor_shows_clip(scene, clip) -> None:
    """Make renders show ``clip`` as the scene sees it (the compositor's Movie Clip node)."""
    if not hasattr(scene, "compositing_node_group"):
        pytest.skip("compositor check written for the Blender 5.0 node-group API")
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


def _shown_frame(sc, frame: int, tmp: Path) -> int:
    """The core_media frame number Blender renders at timeline ``frame``."""
    from PIL import Image

    sc.frame_set(frame)
    sc.render.filepath = str(tmp / "shown.png")
    bpy.ops.render.render(write_still=True)
    return core_media.decoded_index(np.asarray(Image.open(tmp / "shown.png").convert("RGB")))


def test_dropped_frames_strip_clip_and_plate_show_the_reconstructed_frame(scene, tmp_path):
    """A 24 fps clip with frames 10-12 dropped: Blender numbers it by time (33 frames, a gap shows the
    frame before it). The strip mapping, the pipeline's reader, the plate clip and the proxy texture
    must all agree with what the sequencer shows at each timeline frame."""
    pytest.importorskip("av", reason="PyAV encodes the test videos")
    from vggt_core.plate.frames import FrameSelection
    from vggt_core.reconstruction import FrameInfo
    from vggt_blender.builders.datablocks import Ledger
    from vggt_blender.builders.depth_mesh import build_frame_material

    video = core_media.write_video(tmp_path / "drop.mp4", n=33, rate=24, drop=(10, 11, 12))
    strip = _strips(scene.sequence_editor_create()).new_movie("drop", str(video), 1, 5)
    assert strip.frame_duration == 33
    scene.render.use_sequencer = True
    res = sources.from_strip(strip, scene)
    timeline, idx = list(res.plate.timeline_frames), list(res.selection.indices)
    assert idx == list(range(33)) and timeline == list(range(5, 38))
    shown = {t: _shown_frame(scene, t, tmp_path) for t in timeline}
    assert [shown[t] for t in (14, 15, 16, 17, 18)] == [9, 9, 9, 9, 13]  # the gap holds frame 9
    decoded = read_frames(list_frames(str(video), FrameSelection(indices=tuple(idx))))
    assert [core_media.decoded_index(f) for f in decoded] == [shown[t] for t in timeline]

    # A proxy texture holds its frame: movie frame 11 (inside the gap) shows what the strip shows.
    scene.render.use_sequencer = False
    mat = build_frame_material(Ledger(), "m", FrameInfo(str(video), 11, 11 / 24, 64, 48))
    me = bpy.data.meshes.new("quad")
    me.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)], [], [(0, 1, 2, 3)])
    me.uv_layers.new(name="UVMap").data.foreach_set("uv", [0, 0, 1, 0, 1, 1, 0, 1])
    me.materials.append(mat)
    scene.collection.objects.link(bpy.data.objects.new("quad", me))
    cam = bpy.data.objects.new("quad cam", bpy.data.cameras.new("quad cam"))
    cam.data.type, cam.data.ortho_scale, cam.location = "ORTHO", 0.5, (0, 0, 5)
    scene.collection.objects.link(cam)
    scene.camera, scene.render.engine, scene.cycles.samples = cam, "CYCLES", 1
    assert _shown_frame(scene, 1, tmp_path) == shown[5 + 11] == 9
    bpy.data.objects.remove(bpy.data.objects["quad"])

    # The plate: the importer places the clip so source index i plays at timeline[i].
    from vggt_blender.convert import movie_plate_start

    frames = [FrameInfo(str(video), i, i / 24, 64, 48) for i in idx]
    start = movie_plate_start(frames, np.asarray(timeline))
    assert start == 5
    clip = bpy.data.movieclips.load(str(video))
    clip.frame_start, clip.frame_offset = start, 0  # what builders.cameras._attach_plate sets
    _compositor_shows_clip(scene, clip)
    for t in (5, 14, 16, 18, 37):
        assert _shown_frame(scene, t, tmp_path) == shown[t], t


PY42 = REPO / ".venv-bpy42" / "bin" / "python"
_ADD_ADJUSTED_STRIP = """
import sys, bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
sc = bpy.context.scene
sc.render.fps = 30
sc.sequence_editor_create()
win = bpy.context.window_manager.windows[0]
area = win.screen.areas[0]
area.type = "SEQUENCE_EDITOR"
with bpy.context.temp_override(window=win, area=area, region=area.regions[-1], scene=sc):
    bpy.ops.sequencer.movie_strip_add(filepath=sys.argv[1], frame_start=10, channel=2, sound=False,
                                      adjust_playback_rate=True, use_framerate=False)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2])
"""


@pytest.mark.parametrize("reverse", [False, True])
def test_movie_strip_with_adjusted_playback_rate(scene, tmp_path, reverse):
    """A 24 fps movie added to a 30 fps scene with *Adjust Playback Rate* spans 60 timeline frames for
    its 48 movie frames; the mapping follows that rate. Blender 5.0's Add Movie operator crashes without
    a real sequencer editor, so Blender 4.2 (its own venv) adds the strip and 5.0 opens the file."""
    import subprocess

    if not PY42.exists():
        pytest.skip(f"no Blender 4.2 venv at {PY42} to add the rate-adjusted strip (install/setup.sh makes it)")
    pytest.importorskip("av", reason="PyAV encodes the test videos")
    video = core_media.write_video(tmp_path / "plate.mp4", n=36, rate=24)
    blend = tmp_path / "adjusted.blend"
    run = subprocess.run([str(PY42), "-c", _ADD_ADJUSTED_STRIP, str(video), str(blend)],
                         capture_output=True, text=True, timeout=120)
    assert blend.exists(), run.stderr[-2000:]
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    sc = bpy.context.scene
    strip = sc.sequence_editor.active_strip
    assert strip.frame_final_end - strip.frame_final_start == 45  # 36 movie frames x 30 / 24
    strip.animation_offset_start = 2  # 34 movie frames left, 42.5 -> 42 timeline frames
    strip.use_reverse_frames = reverse
    strip.frame_final_start, strip.frame_final_end = 13, 49
    r = sc.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = W, H, 100
    r.image_settings.file_format = "PNG"
    r.use_sequencer = True
    sc.view_settings.view_transform = "Standard"

    assert sources.movie_strip_rate(strip, sc, 36) == pytest.approx(0.8)
    res = sources.from_strip(strip, sc, stride=1)
    idx = list(res.selection.indices)
    assert len(set(idx)) < len(idx)  # 0.8 movie frames per timeline frame: some repeat
    for t, s in zip(res.plate.timeline_frames, idx):
        # Blender 5.0's sequencer cache can show a neighbour of a fractional movie position during
        # sequential playback; each frame rendered afresh shows the mapped frame.
        strip.invalidate_cache("RAW")
        assert _shown_frame(sc, t, tmp_path) == s, (t, s)


def test_refuses_timings_it_cannot_map(scene, tmp_path):
    video = _write_video(tmp_path / "v.mp4", 12)
    se = scene.sequence_editor_create()
    strip = _strips(se).new_movie("v", str(video), 1, 1)
    strip.strobe = 3.0
    with pytest.raises(InputError, match="Strobe 3: set Strobe to 1"):
        sources.from_strip(strip, scene)
    strip.strobe = 1.0
    span = {"length": 12, "input1": strip} if hasattr(se, "strips") else {"frame_end": 13, "seq1": strip}  # 5.0 / 4.2
    speed = _strips(se).new_effect("sp", "SPEED", 2, 1, **span)
    assert speed.input_1 == strip
    with pytest.raises(InputError, match="retimed by Speed effect 'sp'"):
        sources.from_strip(strip, scene)


def test_active_strip_comes_from_the_workspace_sequencer_scene(scene, tmp_path):
    """Blender 5.0: the Video Sequencer edits ``workspace.sequencer_scene``, not necessarily the
    scene of the 3D View."""
    from types import SimpleNamespace

    ws = bpy.context.workspace
    if not hasattr(ws, "sequencer_scene"):
        pytest.skip("WorkSpace.sequencer_scene is new in Blender 5.0")
    video = _write_video(tmp_path / "edit.mp4", 12)
    edit = bpy.data.scenes.new("Edit")
    edit.render.fps = 24
    strip = _strips(edit.sequence_editor_create()).new_movie("shot", str(video), 1, 100)
    edit.sequence_editor.active_strip = strip
    props = SimpleNamespace(source_type="STRIP", stride=4, max_frames=0, fps=0.0)
    with pytest.raises(InputError, match="No active strip"):
        sources.resolve(bpy.context, props)  # no sequencer scene: the 3D View's scene has no edit
    ws.sequencer_scene = edit
    assert sources.active_strip(bpy.context) == strip
    res = sources.resolve(bpy.context, props)
    assert res.plate.timeline_frames == (100, 104, 108) and res.selection.indices == (0, 4, 8)
    assert res.plate.strip == "shot"


def test_image_sequence_movie_clip(scene, tmp_path):
    files = _write_images(tmp_path / "seq", 10)  # shot_0001..shot_0010, grey LEVEL * i
    clip = bpy.data.movieclips.load(str(files[0]))
    assert clip.source == "SEQUENCE" and clip.frame_duration == 10
    clip.frame_start, clip.frame_offset = 20, 1
    res = sources.from_clip(clip, stride=3, start=1)
    assert res.inputs == tuple(str(files[i]) for i in (1, 4, 7)) and res.plate.images == res.inputs
    assert res.selection.indices is None
    assert res.plate.timeline_frames == (20, 23, 26)
    _compositor_shows_clip(scene, clip)
    for t, i in zip(res.plate.timeline_frames, (1, 4, 7)):
        assert abs(_shown(scene, t, tmp_path) - i) < 0.5, (t, i)
    files[4].unlink()
    with pytest.raises(InputError, match="shot_0005.png"):
        sources.from_clip(clip, stride=3, start=1)


def test_exr_image_strip_passes_its_files_through(scene, tmp_path):
    img = bpy.data.images.new("e", W, H, float_buffer=True)
    scene.render.image_settings.file_format = "OPEN_EXR"
    paths = [tmp_path / f"plate_{i + 1:04d}.exr" for i in range(3)]
    for p in paths:
        img.save_render(str(p), scene=scene)
    strip = _strips(scene.sequence_editor_create()).new_image("exr", str(paths[0]), 1, 1)
    for p in paths[1:]:
        strip.elements.append(p.name)
    res = sources.from_strip(strip, scene)
    assert res.inputs == tuple(str(p) for p in paths) and res.plate.images == res.inputs
