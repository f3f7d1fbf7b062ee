"""Long shots in Blender: the animated camera is keyed on reconstructed frames only and says which are not."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from synth_recon import make_recon  # noqa: E402
from vggt_blender import convert  # noqa: E402
from vggt_blender.builders import import_reconstruction  # noqa: E402
from vggt_blender.builders.datablocks import Ledger, fcurve_ensure  # noqa: E402


def test_animated_camera_marks_interpolated_frames(scene):
    recon = make_recon([(64, 36)] * 4, video="/nonexistent/plate.mp4", indices=[0, 4, 8, 20])
    settings = convert.ImportSettings(per_frame_cameras=False, point_cloud=False, depth_proxies=False)
    anim = next(o for o in import_reconstruction(recon, settings, scene).objects if o.type == "CAMERA")
    keys = [round(k.co[0]) for k in fcurve_ensure(anim, "location", 0, Ledger()).keyframe_points]
    assert list(anim["vggt_reconstructed_frames"]) == keys and len(keys) == 4
    assert anim["vggt_interpolated_frames"] == keys[-1] - keys[0] + 1 - 4 == 17


def test_fps_samples_movie_clips_and_strips_by_playback_time(scene, tmp_path):
    pytest.importorskip("av", reason="PyAV encodes the test videos")
    from ext_helpers import write_video
    from vggt_blender.runs import sources

    scene.render.fps, scene.render.fps_base = 24, 1.0
    video = write_video(tmp_path / "plate.mp4", [5 * i for i in range(48)], (64, 48))
    clip = bpy.data.movieclips.load(str(video))
    assert clip.fps == 24
    assert sources.from_clip(clip, fps=6).selection.indices == tuple(range(0, 48, 4))
    assert sources.from_clip(clip, fps=6, max_frames=3).selection.indices == (0, 24, 44)
    assert sources.from_clip(clip).selection.indices == tuple(range(48))  # 0 = every frame
    se = scene.sequence_editor_create()
    strip = (se.strips if hasattr(se, "strips") else se.sequences).new_movie("plate", str(video), 1, 1)
    assert sources.from_strip(strip, scene, fps=12).plate.timeline_frames == tuple(range(1, 49, 2))


def test_blender_command_takes_the_chunk_options(tmp_path):
    from vggt_blender.command_line import cli

    args = cli._parser().parse_args(["--images", str(tmp_path), "--out", str(tmp_path / "s.blend"),
                                     "--chunk-size", "40", "--overlap", "10", "--fps", "2"])
    assert args.fps == 2
    job = cli._plan(args).job
    assert (job.settings.chunk_size, job.settings.overlap, job.settings.strategy) == (40, 10, "chained")


@pytest.fixture()
def enabled(request):
    pytest.importorskip("torch", reason="the add-on fixture writes a tiny checkpoint with torch")
    return request.getfixturevalue("addon")


def test_panel_chunk_and_fps_fields_reach_the_run(enabled, tmp_path):
    from ext_helpers import write_video
    from vggt_blender.runs import runs

    pytest.importorskip("av", reason="PyAV encodes the test videos")
    bpy.ops.wm.read_homefile(use_empty=True)
    props = bpy.context.scene.vggt
    clip = bpy.data.movieclips.load(str(write_video(tmp_path / "plate.mp4", [5 * i for i in range(48)], (64, 48))))
    props.source_type, props.movie_clip, props.max_frames = "CLIP", clip, 0
    props.chunk_size, props.overlap, props.fps = 12, 3, 8.0
    job = runs.plan_from_scene(bpy.context).job
    assert (job.settings.chunk_size, job.settings.overlap) == (12, 3)
    assert job.settings.selection.indices == tuple(range(0, 48, 3))
