"""Masks of what moves (vggt_core.plate.masks) and the solve with a moving object (masked, or rejected automatically).

Ground truth: synthetic dollies with a rigid box moving through the room (tests/mover_shots.py) standing in for
VGGT's tracks and cameras."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_media import write_video  # noqa: E402
from mover_shots import make_mover_shot, without  # noqa: E402
from solve_shots import rotation_errors_deg, shot_recon  # noqa: E402
from synth_recon import make_recon  # noqa: E402

from vggt_core.run import cache, cli_options  # noqa: E402
from vggt_core.errors import InputError  # noqa: E402
from vggt_core.plate.frames import list_frames  # noqa: E402
from vggt_core.plate.masks import load_mattes, mask_observations, mask_pixels, mask_to_model  # noqa: E402
from vggt_core.reconstruction import FrameInfo  # noqa: E402
from vggt_core.solve import solve  # noqa: E402


def _png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(img).save(path)


def test_observations_in_a_mask_are_dropped_by_the_pixel_they_lie_in():
    mask = np.zeros((4, 20), bool)
    mask[2, 10] = True  # plate pixel column 10, row 2: continuous [10, 11) x [2, 3)
    uv = np.array([[[10.0, 2.0], [10.99, 2.99], [9.99, 2.5], [11.0, 2.5], [10.5, 3.0], [-1.0, 2.5]]])
    seen = np.ones((1, 6), bool)
    out = mask_observations(uv, seen, [mask])
    assert out.tolist() == [[False, False, True, True, True, True]]
    assert mask_observations(uv, seen, [None]).all() and mask_observations(uv, seen, None) is seen


def test_matte_folder_from_1001_with_dropped_frames_lines_up_by_number(tmp_path):
    plate, mattes = tmp_path / "plate", tmp_path / "mattes"
    plate.mkdir()
    mattes.mkdir()
    numbers = [1001, 1002, 1004, 1005]  # 1003 dropped from the plate
    for n in numbers:
        _png(plate / f"shot.{n}.png", np.full((6, 10, 3), 90, np.uint8))
    for n in range(1001, 1006):  # the matte folder has every frame; frame n's white column is n - 1001
        img = np.zeros((6, 10), np.uint8)
        img[:, n - 1001] = 255
        _png(mattes / f"roto_{n:04d}.png", img)
    infos = list_frames(plate)
    masks = load_mattes(mattes, infos)
    assert [int(np.flatnonzero(m[0])[0]) for m in masks] == [n - 1001 for n in numbers]
    inverted = load_mattes(mattes, infos, invert=True)
    assert all((a == ~b).all() for a, b in zip(masks, inverted))
    (mattes / "roto_1004.png").unlink()
    with pytest.raises(InputError, match="1004"):
        load_mattes(mattes, infos)


def test_matte_alpha_wins_over_colour(tmp_path):
    img = np.zeros((4, 6, 4), np.uint8)
    img[..., :3] = 255  # white everywhere ...
    img[1, 2, 3] = 255  # ... but only one opaque pixel
    _png(tmp_path / "m_7.png", img)
    (tmp_path / "plate").mkdir()
    _png(tmp_path / "plate" / "p_7.png", np.zeros((4, 6, 3), np.uint8))
    (mask,) = load_mattes(tmp_path, list_frames(tmp_path / "plate"))
    assert np.argwhere(mask).tolist() == [[1, 2]]


def test_matte_movie_frames_follow_the_plate_frame_numbers(tmp_path):
    movie = write_video(tmp_path / "matte.mp4", n=30, size=(64, 48))  # frame i grey 7 i, white 8x8 corner
    infos = [FrameInfo("/plate.mov", i, i / 10, 64, 48) for i in (25, 5)]
    late, early = load_mattes(movie, infos)
    assert late.mean() > 0.95  # grey 175 > one half
    assert early[:6, :6].all() and early[12:, 12:].sum() == 0  # only the white marker


def test_a_matte_of_the_wrong_size_or_a_missing_path_is_one_line(tmp_path):
    _png(tmp_path / "m_1.png", np.zeros((4, 6), np.uint8))
    with pytest.raises(InputError, match="plate resolution"):
        load_mattes(tmp_path, [FrameInfo(str(tmp_path / "p_1.png"), 0, None, 12, 8)])
    with pytest.raises(InputError, match="not found"):
        load_mattes(tmp_path / "nope", [])


def test_masked_pixels_make_no_points_and_survive_the_cache(tmp_path):
    recon = make_recon([(420, 280)] * 2, (28, 42))
    mask = np.zeros((280, 420), bool)
    mask[:, :210] = True  # the left half of frame 0
    masked = mask_pixels([mask, None], recon.preprocess)
    assert masked[0].mean() == pytest.approx(0.5, abs=0.03) and not masked[1].any()
    model = mask_to_model(mask, recon.preprocess[0])
    assert model[:, :20].all() and not model[:, 22:].any()
    out = replace(recon, masked=masked, valid=recon.valid & ~masked)
    back = cache.load(cache.save(out, tmp_path / "r.npz"))
    np.testing.assert_array_equal(back.valid, out.valid)
    assert not back.valid[0][masked[0]].any()


def test_mask_options_reach_the_settings(tmp_path):
    parser = argparse.ArgumentParser()
    cli_options.add_arguments(parser, max_points=0)
    fields = cli_options.settings_fields(parser.parse_args(["--mask", str(tmp_path), "--mask-invert",
                                                            "--no-reject-movers", "--mask-blank"]))
    assert fields["mask"] == str(tmp_path.resolve()) and fields["mask_invert"] and not fields["reject_movers"]
    assert fields["mask_blank"]
    default = cli_options.settings_fields(parser.parse_args([]))
    assert default["reject_movers"] and not default["mask_blank"] and default["mask"] is None


def _errors(out, shot) -> tuple[float, float]:
    rot = float(rotation_errors_deg(out.extrinsics.astype(np.float64), shot.extrinsics).max())
    return rot, abs(float(out.intrinsics[0, 0, 0]) / shot.k[0, 0] - 1)


def test_with_the_mover_masked_the_solve_is_as_good_as_without_it():
    ms = make_mover_shot(0.25, travel=(6.0, 0.0, -2.0))  # moves along the dolly: the case rejection misses
    masked = solve(shot_recon(ms.shot), lens="shared", refine="ba", masks=ms.masks)
    clean = solve(shot_recon(without(ms.shot, ms.moving)), lens="shared", refine="ba", reject_movers=False)
    bent = solve(shot_recon(ms.shot), lens="shared", refine="ba", reject_movers=False)
    (rot_m, f_m), (rot_c, f_c), (rot_b, _) = _errors(masked, ms.shot), _errors(clean, ms.shot), _errors(bent, ms.shot)
    assert rot_b > 1.0  # the mover does bend an unmasked solve
    assert rot_m <= rot_c + 0.1 and f_m <= f_c + 0.005
    assert masked.solve["moving_tracks"] == 0 and masked.moving_tracks is None
    # No kept observation of the solve lies inside its frame's mask.
    obs, uv = masked.sparse_obs, masked.sparse_uv
    px = np.floor(uv).astype(int)
    assert not any(ms.masks[f][y, x] for f, (x, y) in zip(obs[:, 0], px))


@pytest.mark.parametrize("share,travel", [(0.25, (-3.0, 0.0, 0.0)), (0.4, (0.0, -3.0, 0.0))])
def test_moving_tracks_are_rejected_without_a_mask(share, travel, tmp_path):
    ms = make_mover_shot(share, travel=travel)
    out = solve(shot_recon(ms.shot), lens="shared", refine="ba")
    rot, focal = _errors(out, ms.shot)
    # Without rejection this shot solves 1.5-4.7 degrees / 3-14 % off; masked, 0.1 degrees / 1 % (the clean
    # shot's own focal error: 1.0-1.1 %). Rejection meets the targets.
    assert rot < 0.2 and focal < 0.0115
    rejected = np.zeros(len(ms.moving), bool)
    rejected[out.moving_tracks] = True
    assert rejected[ms.moving].mean() > 0.9  # most of the mover's tracks ...
    assert rejected[~ms.moving].mean() < 0.02  # ... and few static ones
    assert out.solve["moving_tracks"] == rejected.sum()
    if share >= 0.4:  # a static scene that thin is worth a look: the verdict says so
        assert out.solve["verdict"] == "check" and any("rejected as moving" in r for r in out.solve["reasons"])
    back = cache.load(cache.save(out, tmp_path / "r.npz"))
    np.testing.assert_array_equal(back.moving_tracks, out.moving_tracks)


class _Counting:
    """A real (tiny) engine, counting its runs."""

    def __init__(self, engine):
        self.engine, self.calls, self.model_id, self.numerics = engine, 0, engine.model_id, engine.numerics

    def predict(self, images, **kwargs):
        self.calls += 1
        self.images = np.array(images)
        return self.engine.predict(images, **kwargs)


def test_a_matte_folder_keeps_its_pixels_out_of_the_points_and_a_bad_one_fails_first(tmp_path, tiny_model):
    import copy

    from core_media import write_images

    from vggt_core.network.engine import Engine
    from vggt_core.run.pipeline import ReconstructSettings, reconstruct

    write_images(tmp_path / "plate", ["plate.1001.png", "plate.1002.png"], size=(160, 120))
    (tmp_path / "mattes").mkdir()
    left = np.zeros((120, 160), np.uint8)
    left[:, :80] = 255
    _png(tmp_path / "mattes" / "m.1001.png", left)
    _png(tmp_path / "mattes" / "m.1002.png", np.zeros((120, 160), np.uint8))
    engine = _Counting(Engine.from_model(copy.deepcopy(tiny_model)))
    with pytest.raises(InputError, match="not found"):
        reconstruct(tmp_path / "plate", ReconstructSettings(mask=str(tmp_path / "nope")), engine)
    (tmp_path / "nope").mkdir()
    _png(tmp_path / "nope" / "m.1001.png", left)
    with pytest.raises(InputError, match="1002"):
        reconstruct(tmp_path / "plate", ReconstructSettings(mask=str(tmp_path / "nope")), engine)
    assert engine.calls == 0  # both refused before the network ran

    recon = reconstruct(tmp_path / "plate", ReconstructSettings(mask=str(tmp_path / "mattes")), engine)
    w = recon.model_size[1]
    assert not recon.valid[0][:, : w // 2 - 1].any() and recon.valid[0][:, w // 2 + 1:].all()
    assert recon.valid[1].all() and recon.masked[0].any() and not recon.masked[1].any()

    # The network saw the plate as it is, unless blanking is asked for: then white where the matte is.
    assert (engine.images[0, :, :, : w // 2 - 1] < 1.0).any()
    reconstruct(tmp_path / "plate", ReconstructSettings(mask=str(tmp_path / "mattes"), mask_blank=True), engine)
    assert (engine.images[0, :, :, : w // 2 - 1] == 1.0).all() and (engine.images[0, :, :, w // 2 + 1:] < 1).any()
    assert (engine.images[1] < 1.0).any()


def test_a_new_mask_re_solves_from_the_network_cache(tmp_path, tiny_model):
    """Masks are solve settings: a new matte (or another matte folder) re-solves and re-filters the points
    from the cached network output; only hiding masks from the network runs it again."""
    import copy

    from core_media import write_images

    from vggt_core.network.engine import Engine
    from vggt_core.run.pipeline import ReconstructSettings, reconstruct

    write_images(tmp_path / "plate", ["plate.1001.png", "plate.1002.png"], size=(160, 120))
    for name, cols in (("left", slice(0, 80)), ("right", slice(80, 160))):
        (tmp_path / name).mkdir()
        m = np.zeros((120, 160), np.uint8)
        m[:, cols] = 255
        _png(tmp_path / name / "m.1001.png", m)
        _png(tmp_path / name / "m.1002.png", m)
    from vggt_core.network.weights import save_checkpoint

    engine = _Counting(Engine.from_model(copy.deepcopy(tiny_model)))
    engine.model_id = str(save_checkpoint(tiny_model, tmp_path / "w.safetensors"))  # named weights: cacheable
    cache_dir = tmp_path / "cache"
    left = reconstruct(tmp_path / "plate", ReconstructSettings(mask=str(tmp_path / "left")), engine, cache_dir=cache_dir)
    right = reconstruct(tmp_path / "plate", ReconstructSettings(mask=str(tmp_path / "right")), engine, cache_dir=cache_dir)
    plain = reconstruct(tmp_path / "plate", ReconstructSettings(), engine, cache_dir=cache_dir)
    assert engine.calls == 1  # one network run for three masks
    w = left.model_size[1]
    assert not left.valid[0][:, : w // 2 - 1].any() and right.valid[0][:, : w // 2 - 1].any()
    assert not right.valid[0][:, w // 2 + 1:].any() and plain.masked is None
    reconstruct(tmp_path / "plate", ReconstructSettings(mask=str(tmp_path / "left"), mask_blank=True), engine,
                cache_dir=cache_dir)
    assert engine.calls == 2  # the network saw the blanked pixels: its own key


def _half_matte(folder: Path, numbers, left: bool) -> None:
    """Mattes ``m.NNNN.png`` (160x120) keeping out the left or the right half, dated a second after the last ones:
    a re-render comes later than the render it replaces (a filesystem's clock may tick slower than this test)."""
    folder.mkdir(exist_ok=True)
    m = np.zeros((120, 160), np.uint8)
    m[:, :80] = 255
    for n in numbers:
        path = folder / f"m.{n}.png"
        old = path.stat().st_mtime_ns if path.exists() else 0
        _png(path, m if left else 255 - m)
        os.utime(path, ns=(old + 10**9, max(path.stat().st_mtime_ns, old + 10**9)))


def test_a_matte_re_rendered_in_place_re_solves_and_when_blanked_re_runs_the_network(tmp_path, tiny_model):
    """The matte folder's path is the same; its files are new: the solve sees the new matte, and a network that
    was shown the old one (blanking) runs again, as does one shown it inverted."""
    import copy

    from core_media import write_images

    from vggt_core.network.engine import Engine
    from vggt_core.network.weights import save_checkpoint
    from vggt_core.run.pipeline import ReconstructSettings, reconstruct

    write_images(tmp_path / "plate", ["plate.1001.png", "plate.1002.png"], size=(160, 120))
    roto = tmp_path / "roto"
    _half_matte(roto, (1001, 1002), left=True)
    engine = _Counting(Engine.from_model(copy.deepcopy(tiny_model)))
    engine.model_id = str(save_checkpoint(tiny_model, tmp_path / "w.safetensors"))  # named weights: cacheable
    run = lambda **kw: reconstruct(tmp_path / "plate", ReconstructSettings(mask=str(roto), **kw), engine,  # noqa: E731
                                   cache_dir=tmp_path / "cache")
    left = run()
    w = left.model_size[1]
    assert left.masked[0][:, : w // 2 - 1].all() and not left.masked[0][:, w // 2 + 1:].any()
    _half_matte(roto, (1001, 1002), left=False)
    right = run()
    assert engine.calls == 1  # re-solved from the cached network output ...
    assert right.masked[0][:, w // 2 + 1:].all() and not right.masked[0][:, : w // 2 - 1].any()  # ... on the new matte

    run(mask_blank=True)
    assert engine.calls == 2 and (engine.images[0, :, :, w // 2 + 1:] == 1.0).all()
    _half_matte(roto, (1001, 1002), left=True)
    run(mask_blank=True)
    assert engine.calls == 3  # the network is shown the new matte
    assert (engine.images[0, :, :, : w // 2 - 1] == 1.0).all() and (engine.images[0, :, :, w // 2 + 1:] < 1).any()
    run(mask_blank=True, mask_invert=True)
    assert engine.calls == 4 and (engine.images[0, :, :, w // 2 + 1:] == 1.0).all()  # inverted: the other half


def test_an_interrupted_blanked_run_does_not_resume_from_chunks_of_an_older_matte(tmp_path, tiny_model):
    import copy

    from core_media import write_images

    from vggt_core.network.engine import Engine
    from vggt_core.network.weights import save_checkpoint
    from vggt_core.run.pipeline import ReconstructSettings, reconstruct

    numbers = (1001, 1002, 1003)
    write_images(tmp_path / "plate", [f"plate.{n}.png" for n in numbers], size=(160, 120))
    roto = tmp_path / "roto"
    _half_matte(roto, numbers, left=True)
    settings = ReconstructSettings(mask=str(roto), mask_blank=True, chunk_size=2, overlap=1)
    engine = _Counting(Engine.from_model(copy.deepcopy(tiny_model)))
    engine.model_id = str(save_checkpoint(tiny_model, tmp_path / "w.safetensors"))
    real = engine.predict

    def killed_in_the_second_chunk(images, **kw):
        if engine.calls == 1:
            raise KeyboardInterrupt  # a kill: the first chunk's file stays in the cache
        return real(images, **kw)

    engine.predict = killed_in_the_second_chunk
    with pytest.raises(KeyboardInterrupt):
        reconstruct(tmp_path / "plate", settings, engine, cache_dir=tmp_path / "cache")
    assert engine.calls == 1 and len(list((tmp_path / "cache").glob("*.npz"))) == 1
    _half_matte(roto, numbers, left=False)
    engine.predict, engine.calls = real, 0
    reconstruct(tmp_path / "plate", settings, engine, cache_dir=tmp_path / "cache")
    assert engine.calls == 2  # both chunks run on the new matte
