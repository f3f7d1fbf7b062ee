"""Solved tracks as Movie Clip markers (right frames, right pixels, bottom-left normalised), and the solved
lens, distortion included, on the clip's tracking camera. Real bpy."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the bpy module is not installed (pip install bpy==5.0.1)")

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(Path(__file__).parent)]

from solve_shots import head_tracked, make_shot, shot_recon, true_uv  # noqa: E402
from test_sources import H, W, _shown, _strips, _write_images, _write_video  # noqa: E402
from vggt_blender.builders.markers import (  # noqa: E402
    apply_tracking_camera, build_moving_markers, build_track_markers)  # noqa: E402
from vggt_core.plate.preprocess import plan_batch  # noqa: E402
from vggt_core.solve import solve  # noqa: E402


@pytest.fixture()
def clip(tmp_path):
    from ext_helpers import write_video

    pytest.importorskip("av", reason="PyAV encodes the test video")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.data.movieclips.load(str(write_video(tmp_path / "plate.mp4", [5 * i for i in range(12)], (64, 36))))


def _markers(recon) -> int:
    """The markers an import makes: one per solved track, and one per track rejected as moving (red); a static
    shot can have a few of those too (the depth test's tail)."""
    return len(recon.sparse_points) + (0 if recon.moving_tracks is None else len(recon.moving_tracks))


def test_markers_land_on_their_frames_and_pixels(clip):
    shot = make_shot("orbit", frames=6, tracks=40, size=(64, 36), focal_px=48.0, noise_px=0.01, outliers=0.0)
    recon = solve(shot_recon(shot), lens="shared", refine="ba")
    # Every second movie frame was reconstructed: 0, 2, ..., 10.
    recon = replace(recon, frames=[replace(f, index=2 * i) for i, f in enumerate(recon.frames)])
    made = build_track_markers(clip, recon)
    assert made == len(recon.sparse_points) == len(clip.tracking.tracks)
    for (frame, point), (u, v) in zip(recon.sparse_obs[::7].tolist(), recon.sparse_uv[::7].tolist()):
        marker = clip.tracking.tracks[f"VGGT {point}"].markers.find_frame(2 * frame + 1, exact=True)
        assert marker is not None and not marker.mute
        np.testing.assert_allclose(marker.co[:], [u / 64, 1 - v / 36], atol=1e-6)
    # Between reconstructed frames a track is not observed: a disabled marker stops it holding position.
    track = clip.tracking.tracks[f"VGGT {recon.sparse_obs[0, 1]}"]
    assert track.markers.find_frame(2, exact=True).mute


def test_a_tracked_plate_pixel_is_that_pixel_as_a_blender_marker(clip):
    """End to end from the track head's convention (stand-in, tests/solve_shots.py) to Blender's: the marker's
    pixel, Blender's ``co * size - 0.5`` (pixel centres at integers, y up), is the point's true plate pixel."""
    shot = make_shot("dolly", frames=4, tracks=40, size=(64, 36), focal_px=48.0, noise_px=0.0, outliers=0.0,
                     rot_err_deg=0.0, focal_err=0.0, focal_jitter=0.0, seed=4)
    recon = replace(shot_recon(shot), preprocess=plan_batch([shot.size] * 4, "crop"))  # the product's resize
    recon = solve(head_tracked(shot, recon), lens="known", focal_px=48.0, refine="ba")
    build_track_markers(clip, recon)
    truth = true_uv(shot)
    for frame, point in recon.sparse_obs.tolist():
        marker = clip.tracking.tracks[f"VGGT {point}"].markers.find_frame(frame + 1, exact=True)
        pixel = np.array(marker.co[:]) * (64, 36) - 0.5  # Blender's pixel: centres at integers, y up
        true = np.array([truth[frame, :, 0] - 0.5, 36 - truth[frame, :, 1] - 0.5]).T
        assert np.linalg.norm(true - pixel, axis=1).min() < 1e-4  # on one point's true pixel


def test_solved_distortion_goes_onto_the_tracking_camera(clip):
    shot = make_shot("orbit", frames=10, tracks=200, size=(640, 360), focal_px=500.0, outliers=0.0)
    xy = (shot.uv - shot.k[:2, 2]) / 500.0
    shot.uv = shot.k[:2, 2] + 500.0 * xy * (1 - 0.1 * np.sum(xy**2, axis=2, keepdims=True))
    recon = solve(shot_recon(shot), lens="shared", refine="ba", distortion="k1k2")
    apply_tracking_camera(clip, recon, sensor_width=36.0)
    cam = clip.tracking.camera
    assert cam.distortion_model == "POLYNOMIAL"
    assert (cam.k1, cam.k2) == pytest.approx(tuple(recon.lens.k[0]), abs=1e-6)
    assert cam.focal_length == pytest.approx(recon.intrinsics[0, 0, 0] * 36.0 / 640, rel=1e-5)
    assert cam.k1 == pytest.approx(-0.1, abs=0.02)


def test_import_puts_markers_and_lens_on_the_plates_clip(tmp_path):
    from ext_helpers import write_video

    from vggt_blender import convert
    from vggt_blender.builders import import_reconstruction

    pytest.importorskip("av", reason="PyAV encodes the test video")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    movie = str(write_video(tmp_path / "plate.mp4", [5 * i for i in range(8)], (64, 36)))
    shot = make_shot("orbit", frames=8, tracks=30, size=(64, 36), focal_px=48.0, noise_px=0.01, outliers=0.0)
    recon = solve(shot_recon(shot), lens="shared", refine="ba")
    recon = replace(recon, frames=[replace(f, source=movie) for f in recon.frames])
    settings = convert.ImportSettings(point_cloud=False, depth_proxies=False, track_markers=True)
    import_reconstruction(recon, settings, bpy.context.scene)
    clip = next(c for c in bpy.data.movieclips if len(c.tracking.tracks))
    assert len(clip.tracking.tracks) == _markers(recon)
    assert clip.tracking.camera.focal_length == pytest.approx(recon.intrinsics[0, 0, 0] * 36.0 / 64, rel=1e-5)


# --------------------------------------------------------------------------- the artist's own clip


def _artist_clip(movie: str) -> "bpy.types.MovieClip":
    """The artist's clip of ``movie``: a hand-made track and a calibrated lens (Brown distortion)."""
    clip = bpy.data.movieclips.load(movie)
    clip.name = "artist plate"
    track = clip.tracking.tracks.new(name="artist corner", frame=1)
    for f, co in ((1, (0.25, 0.5)), (4, (0.3, 0.55))):
        track.markers.insert_frame(f, co=co)
    cam = clip.tracking.camera
    cam.sensor_width, cam.focal_length, cam.distortion_model = 23.76, 27.5, "BROWN"
    cam.brown_k1, cam.brown_p1 = 0.031, -0.002
    return clip


def _state(clip) -> dict:
    """Everything the artist set on ``clip``: every tracking-camera setting, its tracks and their markers."""
    cam = clip.tracking.camera
    values = {p.identifier: getattr(cam, p.identifier) for p in cam.bl_rna.properties
              if not p.is_readonly and p.identifier != "rna_type"}
    camera = {k: tuple(v) if hasattr(v, "__len__") and not isinstance(v, str) else v for k, v in values.items()}
    tracks = {t.name: [(m.frame, tuple(m.co), m.mute) for m in t.markers] for t in clip.tracking.tracks}
    return {"camera": camera, "tracks": tracks, "objects": [o.name for o in clip.tracking.objects],
            "timing": (clip.frame_start, clip.frame_offset)}


def _artists_clip_and_a_solve_of_its_movie(tmp_path):
    """An empty factory scene with the artist's tracked, calibrated clip of an 8-frame movie; returns
    ``(clip, its state, a solved Reconstruction of that movie)``."""
    from ext_helpers import write_video

    pytest.importorskip("av", reason="PyAV encodes the test video")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    movie = str(write_video(tmp_path / "plate.mp4", [5 * i for i in range(8)], (64, 36)))
    artist = _artist_clip(movie)
    shot = make_shot("orbit", frames=8, tracks=30, size=(64, 36), focal_px=48.0, noise_px=0.01, outliers=0.0)
    recon = solve(shot_recon(shot), lens="shared", refine="ba")
    return artist, _state(artist), replace(recon, frames=[replace(f, source=movie) for f in recon.frames])


@pytest.mark.parametrize("animated_camera", [True, False], ids=["camera-background", "movie-plate"])
def test_the_artists_tracked_clip_is_untouched_by_import_reimport_rollback_and_removal(
        tmp_path, monkeypatch, animated_camera):
    """With the animated camera the artist's clip (same file, same timing) becomes its background, so the
    markers' clip candidate is the artist's; without one, the plate's movie file is the artist's clip's."""
    from vggt_blender import convert
    from vggt_blender.builders import import_reconstruction, ownership, scene as scene_mod

    artist, before, recon = _artists_clip_and_a_solve_of_its_movie(tmp_path)
    settings = convert.ImportSettings(point_cloud=False, depth_proxies=False, track_markers=True,
                                      animated_camera=animated_camera)
    scene = bpy.context.scene

    def ours() -> list:
        return [c for c in bpy.data.movieclips if c != artist]

    col = import_reconstruction(recon, settings, scene, name="shot")
    assert _state(artist) == before
    clips = [c for c in ours() if len(c.tracking.tracks)]
    assert len(clips) == 1 and clips[0].name == "shot plate"
    assert len(clips[0].tracking.tracks) == _markers(recon)
    assert clips[0].tracking.camera.focal_length == pytest.approx(recon.intrinsics[0, 0, 0] * 36.0 / 64, rel=1e-5)
    assert (clips[0].frame_start, clips[0].frame_offset) == before["timing"]  # plays where the artist's does
    if animated_camera:
        anim = next(o for o in bpy.data.objects if "vggt_reconstructed_frames" in o)
        bg = anim.data.background_images[0]
        assert bg.clip == artist  # the artist's clip still serves as the background, read-only

    # Re-import (Replace), as ``vggt.reimport`` does it: the old import's clip goes, no tracks pile up.
    saved_names = ownership.set_aside(col)
    new = import_reconstruction(recon, settings, scene, name="shot")
    ownership.remove_import(col, heir=new)
    assert _state(artist) == before
    assert [(c.name, len(c.tracking.tracks)) for c in ours()] == [("shot plate", _markers(recon))]
    assert saved_names

    # A failed import after the markers were made leaves nothing behind.
    def fail(*args, **kwargs):
        raise RuntimeError("stop after the markers")

    monkeypatch.setattr(scene_mod, "build_point_cloud", fail)
    with pytest.raises(RuntimeError, match="stop after the markers"):
        import_reconstruction(recon, replace(settings, point_cloud=True), scene, name="failed")
    assert _state(artist) == before
    assert [c.name for c in ours()] == ["shot plate"]

    ownership.remove_import(new)
    assert _state(artist) == before
    assert list(bpy.data.movieclips) == [artist]


def test_lens_onto_my_clip_is_lent_and_given_back(tmp_path, monkeypatch):
    """With the option on, the artist's clip gets the solved lens (its tracks stay); a failed import, a re-import
    without the option and a removal each put back exactly the lens the artist had, and a change the artist
    made to the lens after the import is theirs to keep."""
    from vggt_blender import convert
    from vggt_blender.builders import import_reconstruction, ownership, scene as scene_mod

    artist, before, recon = _artists_clip_and_a_solve_of_its_movie(tmp_path)
    lend = convert.ImportSettings(point_cloud=False, depth_proxies=False, track_markers=True,
                                  lens_to_artist_clip=True)
    scene = bpy.context.scene
    solved_mm = recon.intrinsics[0, 0, 0] * 36.0 / 64

    def replace_import(col, settings):
        ownership.set_aside(col)
        new = import_reconstruction(recon, settings, scene, name="shot")
        ownership.remove_import(col, heir=new)
        return new

    col = import_reconstruction(recon, lend, scene, name="shot")
    cam = artist.tracking.camera
    assert cam.focal_length == pytest.approx(solved_mm, rel=1e-5) and cam.distortion_model == "POLYNOMIAL"
    assert _state(artist)["tracks"] == before["tracks"]
    col = replace_import(col, lend)  # lent again: the lens stays the solved one
    assert cam.focal_length == pytest.approx(solved_mm, rel=1e-5)
    col = replace_import(col, replace(lend, lens_to_artist_clip=False))  # not lent: the artist's lens is back
    assert _state(artist) == before

    def fail(*args, **kwargs):
        raise RuntimeError("stop after the markers")

    with monkeypatch.context() as m:
        m.setattr(scene_mod, "build_point_cloud", fail)
        with pytest.raises(RuntimeError, match="stop after the markers"):
            import_reconstruction(recon, replace(lend, point_cloud=True), scene, name="failed")
    assert _state(artist) == before

    col = replace_import(col, lend)
    ownership.remove_import(col)
    assert _state(artist) == before and "vggt_lent_lens" not in artist

    col = import_reconstruction(recon, lend, scene, name="shot")
    cam.focal_length = 31.0  # the artist recalibrates after the import: removing it keeps their lens
    ownership.remove_import(col)
    assert cam.focal_length == pytest.approx(31.0) and "vggt_lent_lens" not in artist


# --------------------------------------------------------------------------- markers for every source
# Frames encode their source index as grey level (tests/blender/test_sources.py); a sequencer strip of the clip,
# starting at the clip's own start frame, renders what the clip shows at each scene frame, so each marker's frame
# is checked against Blender itself. (Not the compositor: on bpy 5.2 a compositor render makes torch's later
# import of triton crash the process.)


def _grey_scene() -> "bpy.types.Scene":
    bpy.ops.wm.read_factory_settings(use_empty=True)
    sc = bpy.context.scene
    sc.render.resolution_x, sc.render.resolution_y, sc.render.resolution_percentage = W, H, 100
    sc.render.image_settings.file_format = "PNG"
    sc.view_settings.view_transform = "Standard"  # grey levels survive unchanged
    return sc


def _import_solved(scene, infos, plate=None, animated_camera=True):
    """A solved shot with ``infos`` as its frames, imported with markers; returns it and the clip with tracks."""
    from vggt_blender import convert
    from vggt_blender.builders import import_reconstruction

    shot = make_shot("orbit", frames=len(infos), tracks=30, size=(W, H), focal_px=48.0, noise_px=0.01, outliers=0.0)
    recon = replace(solve(shot_recon(shot), lens="shared", refine="ba"), frames=list(infos))
    settings = convert.ImportSettings(point_cloud=False, depth_proxies=False, track_markers=True,
                                      animated_camera=animated_camera, plate=plate)
    col = import_reconstruction(recon, settings, scene)
    clips = [c for c in bpy.data.movieclips if len(c.tracking.tracks)]
    assert len(clips) == 1 and len(clips[0].tracking.tracks) == _markers(recon)
    return recon, clips[0], col.name


def _check_markers(scene, clip, recon, name, tmp_path) -> dict[int, int]:
    """Each track's markers sit at its observations' pixels (normalised, origin bottom-left), and the clip frame
    of reconstructed frame i is one frame, where Blender shows frame i's image. Returns {frame i: clip frame}."""
    clip_frame: dict[int, int] = {}
    for point in np.unique(recon.sparse_obs[:, 1]):
        rows = np.flatnonzero(recon.sparse_obs[:, 1] == point)
        rows = rows[np.argsort(recon.sparse_obs[rows, 0])]
        markers = sorted((m for m in clip.tracking.tracks[f"{name} {point}"].markers if not m.mute),
                         key=lambda m: m.frame)
        assert len(markers) == len(rows)
        for m, row in zip(markers, rows):
            u, v = recon.sparse_uv[row]
            np.testing.assert_allclose(m.co[:], [u / W, 1 - v / H], atol=1e-6)
            assert clip_frame.setdefault(int(recon.sparse_obs[row, 0]), m.frame) == m.frame
    assert sorted(clip_frame) == list(range(recon.num_frames))
    _strips(scene.sequence_editor_create()).new_clip("shows clip", clip, 2, clip.frame_start)
    scene.render.use_sequencer = True
    for i, f in clip_frame.items():
        shown = _shown(scene, clip.frame_start + f - 1, tmp_path)
        assert abs(shown - recon.frames[i].index) < 0.5, (i, f, shown)
    return clip_frame


def test_markers_for_an_image_folder_go_onto_an_image_sequence_clip(tmp_path):
    from vggt_blender.runs import sources
    from vggt_core.plate.frames import list_frames

    scene = _grey_scene()
    _write_images(tmp_path / "plate", 14)  # shot_0001..shot_0014: position i is grey LEVEL * i
    res = sources.from_folder(str(tmp_path / "plate"), stride=2, start=3)
    infos = list_frames(res.inputs, res.selection)  # positions 3, 5, ..., 13: files shot_0004, shot_0006, ...
    recon, clip, name = _import_solved(scene, infos)
    assert clip.source == "SEQUENCE" and clip.name == f"{name} plate"
    assert Path(bpy.path.abspath(clip.filepath)).name == "shot_0004.png"
    clip_frame = _check_markers(scene, clip, recon, name, tmp_path)
    # The clip plays in step with the timeline: frame i shows where the animated camera is keyed for it.
    anim = next(o for o in bpy.data.objects if "vggt_reconstructed_frames" in o)
    assert [clip.frame_start + clip_frame[i] - 1 for i in range(recon.num_frames)] == list(anim["vggt_reconstructed_frames"])


def test_markers_for_a_movie_strip_go_onto_a_clip_of_its_movie(tmp_path):
    from vggt_blender.runs import sources
    from vggt_core.plate.frames import list_frames

    scene = _grey_scene()
    video = _write_video(tmp_path / "plate.mp4", 40)
    se = scene.sequence_editor_create()
    strip = (se.strips if hasattr(se, "strips") else se.sequences).new_movie("plate", str(video), 1, 10)
    strip.frame_final_start, strip.frame_final_end = 14, 34  # trimmed: movie frames 4..23
    res = sources.from_strip(strip, scene, stride=4)
    infos = list_frames(res.inputs, res.selection)
    assert [f.index for f in infos] == [4, 8, 12, 16, 20]
    # No animated camera, so no background clip: the markers still get a clip of the strip's movie.
    recon, clip, name = _import_solved(scene, infos, plate=res.plate, animated_camera=False)
    assert clip.source == "MOVIE" and Path(bpy.path.abspath(clip.filepath)) == video
    _check_markers(scene, clip, recon, name, tmp_path)


def test_tracks_rejected_as_moving_are_red_markers_of_their_own(clip):
    from mover_shots import make_mover_shot

    ms = make_mover_shot(0.25, frames=6, tracks=80, size=(64, 36), focal_px=48.0, noise_px=0.01, outliers=0.0,
                         travel=(0.0, -3.0, 0.0))
    recon = solve(shot_recon(ms.shot), lens="shared", refine="ba")
    assert recon.moving_tracks is not None and len(recon.moving_tracks)
    recon = replace(recon, frames=[replace(f, index=2 * i) for i, f in enumerate(recon.frames)])
    build_track_markers(clip, recon)
    made = build_moving_markers(clip, recon)
    assert made == len(recon.moving_tracks)
    moving = [t for t in clip.tracking.tracks if t.name.startswith("VGGT moving ")]
    assert len(moving) == made and all(t.use_custom_color and t.color[0] > 0.9 > t.color[1] for t in moving)
    assert not any(t.use_custom_color for t in clip.tracking.tracks if t not in moving)
    # A rejected track's marker sits where the track head saw it, on the plate's frame.
    col = int(recon.moving_tracks[0])
    marker = clip.tracking.tracks[f"VGGT moving {col}"].markers.find_frame(1, exact=True)
    u, v = ms.shot.uv[0, col]
    np.testing.assert_allclose(marker.co[:], [u / 64, 1 - v / 36], atol=1e-4)
