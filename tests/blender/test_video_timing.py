"""vggt_core numbers video frames as Blender does: same frame count, same image at every frame number.

Ground truth is Blender itself: a movie strip's ``frame_duration`` and what the sequencer renders at each
frame. Every test frame shows its own number as its grey level (``core_media.write_video``), and the clips
have gaps in their timestamps (dropped frames / variable frame rate), where numbering by decoded-packet
order goes wrong.
"""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "core")]

from core_media import decoded_index, write_video  # noqa: E402
from vggt_core.plate.frames import list_frames, read_frames  # noqa: E402


def _strips(se):
    return se.strips if hasattr(se, "strips") else se.sequences  # 5.0 / 4.2


@pytest.mark.parametrize(
    "name,rate,drop,count",
    [
        ("gap.mp4", Fraction(24), (10, 11, 12), 33),  # 24 fps, 3 dropped frames: Blender has 33, not 30
        # Starts late (frame 0 is the first written one), NTSC rate, millisecond timestamps:
        ("vfr.mkv", Fraction(30000, 1001), (0, 1, 3, 5, 6, 20, 21, 22, 23), 31),
    ],
)
def test_frame_numbers_match_blender(scene, tmp_path, name, rate, drop, count):
    video = write_video(tmp_path / name, n=33, rate=rate, drop=drop)
    r = scene.render
    r.fps, r.fps_base = round(rate), round(rate) / float(rate)  # the clip's rate: the strip is not retimed
    r.resolution_x, r.resolution_y, r.resolution_percentage = 64, 48, 100
    r.image_settings.file_format = "PNG"
    r.filepath = str(tmp_path / "shown.png")
    scene.view_settings.view_transform = "Standard"
    strip = _strips(scene.sequence_editor_create()).new_movie("plate", str(video), 1, 1)
    clip = bpy.data.movieclips.load(str(video))

    infos = list_frames(video)
    assert [i.index for i in infos] == list(range(len(infos)))
    assert strip.frame_duration == clip.frame_duration == len(infos) == count

    from PIL import Image

    shown = []
    for n in range(strip.frame_duration):
        scene.frame_set(1 + n)  # the strip starts at frame 1
        bpy.ops.render.render(write_still=True)
        shown.append(decoded_index(np.asarray(Image.open(r.filepath).convert("RGB"))))
    assert shown != sorted(set(shown))  # dropped frames are held: the clip really has gaps
    assert [decoded_index(f) for f in read_frames(infos)] == shown
