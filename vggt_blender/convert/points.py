"""Point cloud arrays for the point mesh: positions, linear colours, confidence and its percentile, frame."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vggt_core.plate import SRGB8_TO_LINEAR

from .settings import ImportSettings

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


def confidence_rank(conf: np.ndarray, reference: np.ndarray, max_reference: int = 131_072, seed: int = 0) -> np.ndarray:
    """Percentage [0, 100] float32 of ``reference`` values strictly below each of ``conf``.

    The reference is subsampled to ``max_reference`` values (rank std error < 0.15 points) to stay cheap for
    tens of millions of pixels.
    """
    ref = np.asarray(reference, dtype=np.float32).ravel()
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        return np.zeros(np.shape(conf), dtype=np.float32)
    if ref.size > max_reference:  # sampling with replacement: no O(n) permutation of the population
        ref = ref[np.random.default_rng(seed).integers(0, ref.size, size=max_reference)]
    ref = np.sort(ref)
    rank = np.searchsorted(ref, np.asarray(conf, dtype=np.float32), side="left")
    return (100.0 * rank / ref.size).astype(np.float32)


def point_arrays(
    xyz: np.ndarray, rgb: np.ndarray, conf: np.ndarray, frame: np.ndarray, reference_conf: np.ndarray | None = None
) -> PointArrays:
    """Pack a point set (``xyz`` [N,3], ``rgb`` [N,3] uint8 sRGB, ``conf`` [N], ``frame`` [N]).

    ``reference_conf``: the confidence population the percentile is ranked against (default: ``conf``).
    """
    n = int(np.shape(xyz)[0])
    rgba = np.ones((n, 4), dtype=np.float32)
    rgba[:, :3] = SRGB8_TO_LINEAR[np.asarray(rgb, dtype=np.uint8)]  # table lookup: 10x faster than pow
    conf32 = np.ascontiguousarray(conf, dtype=np.float32)
    return PointArrays(
        positions=np.ascontiguousarray(xyz, dtype=np.float32).reshape(n, 3),
        colors=rgba,
        confidence=conf32,
        conf_percentile=confidence_rank(conf32, conf32 if reference_conf is None else reference_conf),
        frame=np.ascontiguousarray(frame, dtype=np.int32),
    )


def point_cloud_arrays(recon: "Reconstruction", settings: ImportSettings) -> PointArrays:
    """Select points with ``vggt_core.deliver.points.select_points`` and pack them for the point mesh."""
    from vggt_core import select_points  # numpy-only; imported on use

    ps = select_points(
        recon, source=settings.point_source, conf_percentile=settings.conf_percentile,
        max_points=settings.max_points, voxel_size=settings.voxel_size,
    )
    conf_all = recon.depth_conf if settings.point_source == "depth" else recon.world_points_conf
    return point_arrays(ps.xyz, ps.rgb, ps.conf, ps.frame, reference_conf=conf_all[recon.valid])
