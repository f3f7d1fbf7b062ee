"""Preprocessing matches the original loader's sizes, rounding and pixel values; records describe it exactly."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core_media import gradient_image
from vggt_core.errors import InputError
from vggt_core.plate.preprocess import (
    intrinsics_to_model,
    intrinsics_to_original,
    plan,
    preprocess,
    valid_mask,
)


@pytest.mark.parametrize(
    "mode,w,h,resized,offset,model",
    [
        ("crop", 1920, 1080, (518, 294), (0, 0), (518, 294)),  # 20.8125 -> 21 patches
        ("crop", 1080, 1920, (518, 924), (0, -203), (518, 518)),  # centre rows from (924 - 518) // 2
        ("crop", 500, 500, (518, 518), (0, 0), (518, 518)),
        ("crop", 74, 21, (518, 140), (0, 0), (518, 140)),  # 10.5 -> 10 (banker's rounding)
        ("crop", 74, 23, (518, 168), (0, 0), (518, 168)),  # 11.5 -> 12
        ("crop", 4032, 3024, (518, 392), (0, 0), (518, 392)),
        ("pad", 1920, 1080, (518, 294), (0, 112), (518, 518)),
        ("pad", 1080, 1920, (294, 518), (112, 0), (518, 518)),
        ("pad", 21, 74, (140, 518), (189, 0), (518, 518)),
        ("pad", 640, 480, (518, 392), (0, 63), (518, 518)),
    ],
)
def test_plan_sizes(mode, w, h, resized, offset, model):
    rec = plan(w, h, mode)
    assert (rec.resized_size, rec.offset, rec.model_size) == (resized, offset, model)
    assert rec.orig_size == (w, h) and rec.mode == mode


def test_bad_inputs():
    with pytest.raises(InputError, match="mode"):
        plan(100, 100, "stretch")
    with pytest.raises(InputError, match="elongated"):
        plan(5000, 10, "crop")
    with pytest.raises(InputError, match="multiple of 14"):
        plan(100, 100, "crop", target=500)


def _pil_resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC)).astype(np.float32) / 255


def test_crop_pixels_match_direct_pil():
    img = gradient_image(1080, 1920, seed=5)  # portrait: resized to 518x924, rows 203..720 kept
    images, (rec,) = preprocess([img], "crop")
    assert images.shape == (1, 3, 518, 518) and images.dtype == np.float32
    expected = _pil_resize(img, (518, 924))[203:721].transpose(2, 0, 1)
    np.testing.assert_array_equal(images[0], expected)
    assert valid_mask(rec).all()


def test_pad_pixels_match_direct_pil():
    img = gradient_image(1920, 1080, seed=6)
    images, (rec,) = preprocess([img], "pad")
    expected = np.ones((3, 518, 518), np.float32)
    expected[:, 112:406] = _pil_resize(img, (518, 294)).transpose(2, 0, 1)
    np.testing.assert_array_equal(images[0], expected)
    mask = valid_mask(rec)
    assert mask[112:406].all() and not mask[:112].any() and not mask[406:].any()


def test_mixed_sizes_padded_white_and_centred():
    land, port = gradient_image(1920, 1080, seed=1), gradient_image(1080, 1920, seed=2)
    images, recs = preprocess([land, port], "crop")
    assert images.shape == (2, 3, 518, 518)
    assert recs[0].offset == (0, 112) and recs[0].model_size == (518, 518)
    assert recs[1].offset == (0, -203)
    np.testing.assert_array_equal(images[0, :, 112:406], _pil_resize(land, (518, 294)).transpose(2, 0, 1))
    assert (images[0, :, :112] == 1).all() and (images[0, :, 406:] == 1).all()
    assert valid_mask(recs[0]).sum() == 294 * 518


def test_intrinsics_mapping_formula_and_round_trip():
    rec = plan(1080, 1920, "crop")  # sx = 518/1080, sy = 924/1920, offset (0, -203)
    k_model = np.array([[[400.0, 0.0, 250.0], [0.0, 410.0, 270.0], [0.0, 0.0, 1.0]]])
    (k,) = intrinsics_to_original(k_model, [rec])
    sx, sy = 518 / 1080, 924 / 1920
    np.testing.assert_allclose(k, [[400 / sx, 0, 250 / sx], [0, 410 / sy, (270 + 203) / sy], [0, 0, 1]], rtol=1e-12)
    np.testing.assert_allclose(intrinsics_to_model(k[None], [rec])[0], k_model[0], rtol=1e-12)


@pytest.mark.parametrize("mode,w,h", [("crop", 1920, 1080), ("crop", 1080, 1920), ("pad", 1080, 1920)])
def test_centred_principal_point_stays_centred(mode, w, h):
    """VGGT predicts cx = W/2, cy = H/2 in model pixels; that must be the original image's centre."""
    rec = plan(w, h, mode)
    wm, hm = rec.model_size
    (k,) = intrinsics_to_original(np.array([[[300.0, 0, wm / 2], [0, 300.0, hm / 2], [0, 0, 1]]]), [rec])
    np.testing.assert_allclose(k[:2, 2], [w / 2, h / 2], atol=1e-9)


def test_degenerate_focal_stays_infinite_not_nan():
    """Random or failed predictions can have fov 0 -> infinite focal; mapping must not create NaNs."""
    k = np.array([[[np.inf, 0, 259.0], [0, np.inf, 196.0], [0, 0, 1]]])
    (out,) = intrinsics_to_original(k, [plan(160, 120, "crop")])
    assert np.isinf(out[0, 0]) and np.isinf(out[1, 1]) and not np.isnan(out).any()
