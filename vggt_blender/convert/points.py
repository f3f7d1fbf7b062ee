"""Point cloud arrays for the point mesh: positions, linear colours, confidence and its percentile, frame."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vggt_core.plate import SRGB8_TO_LINEAR

from .settings import ImportSettings

RANK_REFERENCE = 131_072  # reference values a percentile is ranked against (its std error < 0.15 points)

if TYPE_CHECKING:  # the runtime path never needs these imported eagerly
    from vggt_core import Reconstruction


@dataclass(frozen=True, eq=False)
class PointArrays:
    """Per-point arrays ready for ``foreach_set`` (all C-contiguous, VGGT world).

    positions [N, 3] float32; colors [N, 4] float32 linear RGBA in [0, 1]; confidence [N] float32
    (raw, >= 1); conf_percentile [N] float32 in [0, 100] (rank of the confidence among all valid
    pixels of the source, so a threshold of p matches ``conf_percentile=p`` at import);
    frame [N] int32 (reconstructed frame index).
    """

    positions: np.ndarray
    colors: np.ndarray
    confidence: np.ndarray
    conf_percentile: np.ndarray
    frame: np.ndarray

    def __len__(self) -> int:
        return int(self.positions.shape[0])


def _order_key(x: np.ndarray) -> np.ndarray:
    """int32 keys of float32 values ``x`` (same shape), ordered as the values (IEEE 754 bits; negatives flipped).

    Within one power of two a key is linear in its value, so equal ranges of keys are log-spaced in value:
    fine where confidences crowd (just above 1) and still fine along a long tail, as equal value steps are not.
    (-0.0 sorts just below +0.0; NaN above +inf, as ``np.sort`` puts it.)
    """
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.int32)
    key = bits >> 31  # -1 for negatives, 0 otherwise
    key &= 0x7FFFFFFF
    key ^= bits  # a negative's magnitude bits flipped: more negative, smaller key
    return key


def confidence_rank(conf: np.ndarray, reference: np.ndarray, max_reference: int = RANK_REFERENCE, seed: int = 0,
                    table_bits: int = 18) -> np.ndarray:
    """Percentage [0, 100] float32 of ``reference`` values strictly below each of ``conf`` (any shape).

    The reference is subsampled to ``max_reference`` values (rank std error < 0.15 points) to stay cheap for
    tens of millions of pixels. Each query costs O(1) (a binary search each took 1-2 s for 5M points): the
    keys (``_order_key``) are cut into about ``2**table_bits`` bins; each bin stores the exact count below it
    and the rank rises linearly from its first reference value to just past its last. So a rank is exact
    where its bin holds at most one distinct reference value (ties included) and otherwise off by less than
    the share of the reference inside the bin (half a value per bin on average at the defaults).
    """
    ref = np.asarray(reference, dtype=np.float32).ravel()
    if ref.size > max_reference:  # sampling with replacement: no O(n) permutation of the population
        ref = ref[np.random.default_rng(seed).integers(0, ref.size, size=max_reference)]
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        return np.zeros(np.shape(conf), dtype=np.float32)
    ref_key = np.sort(_order_key(ref))
    shift = max(0, (int(ref_key[-1]) - int(ref_key[0])).bit_length() - table_bits)  # a bin is 2**shift keys
    first_bin = int(ref_key[0]) >> shift
    # [bins + 1]; the last bin lies past the reference and takes every query above it (rank 100)
    edges = np.arange(first_bin, (int(ref_key[-1]) >> shift) + 3, dtype=np.int64) << shift
    below = np.searchsorted(ref_key, edges, side="left")  # reference values below each edge, exact
    start = (100.0 / ref_key.size * below[:-1]).astype(np.float32)
    end = (100.0 / ref_key.size * below[1:]).astype(np.float32)
    filled = below[1:] > below[:-1]
    low_key = edges[:-1].astype(np.int32)  # first reference key in the bin (its edge where it has none)
    low_key[filled] = ref_key[below[:-1][filled]]
    width = np.ones(len(start), np.float32)  # keys from the first reference value to just past the last
    width[filled] = ref_key[below[1:][filled] - 1] + 1.0 - low_key[filled]
    slope = (end - start) / width

    key = _order_key(np.ravel(conf))
    np.clip(key, int(edges[0]), int(edges[-1]) - 1, out=key)  # a query beyond the reference: an end bin
    bin_ = key >> shift
    bin_ -= first_bin
    key -= low_key[bin_]  # keys past the bin's first reference value (< 0: below it, rank = start)
    np.maximum(key, 0, out=key)
    rank = slope[bin_]
    np.multiply(rank, key, out=rank, dtype=np.float32)
    rank += start[bin_]
    np.minimum(rank, end[bin_], out=rank)
    return rank.reshape(np.shape(conf))


def point_arrays(
    xyz: np.ndarray, rgb: np.ndarray, conf: np.ndarray, frame: np.ndarray, reference_conf: np.ndarray | None = None
) -> PointArrays:
    """Pack a point set (``xyz`` [N,3], ``rgb`` [N,3] uint8 sRGB, ``conf`` [N], ``frame`` [N]).

    ``reference_conf``: the confidence population the percentile is ranked against (default: ``conf``).
    """
    n = int(np.shape(xyz)[0])
    rgba8 = np.empty((n, 4), dtype=np.uint8)  # opaque sRGB bytes, then one contiguous table lookup (no pow):
    rgba8[:, :3] = rgb  # cheaper than writing float RGB into a strided view of float RGBA
    rgba8[:, 3] = 255  # -> linear alpha 1.0
    conf32 = np.ascontiguousarray(conf, dtype=np.float32)
    return PointArrays(
        positions=np.ascontiguousarray(xyz, dtype=np.float32).reshape(n, 3),
        colors=SRGB8_TO_LINEAR[rgba8],
        confidence=conf32,
        conf_percentile=confidence_rank(conf32, conf32 if reference_conf is None else reference_conf),
        frame=np.ascontiguousarray(frame, dtype=np.int32),
    )


def point_cloud_arrays(recon: "Reconstruction", settings: ImportSettings) -> PointArrays:
    """Select points with ``vggt_core.deliver.points.select_points`` and pack them for the point mesh."""
    from vggt_core import select_points  # numpy-only; imported on use
    from vggt_core.deliver import masked_sample

    ps = select_points(
        recon, source=settings.point_source, conf_percentile=settings.conf_percentile,
        max_points=settings.max_points, voxel_size=settings.voxel_size,
    )
    conf_all = recon.depth_conf if settings.point_source == "depth" else recon.world_points_conf
    reference = masked_sample(conf_all, recon.valid, RANK_REFERENCE)  # no copy of every valid pixel
    return point_arrays(ps.xyz, ps.rgb, ps.conf, ps.frame, reference_conf=reference)

