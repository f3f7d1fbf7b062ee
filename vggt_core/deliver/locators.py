"""Locators: the solved sparse points an artist snaps to, capped to a useful number (no bpy).

A few hundred of the bundle-adjusted points (``Reconstruction.sparse_points``), chosen so they are both well
observed and spread over the scene: the points are binned on a 3D grid whose cell size is searched so about
``count`` cells are occupied, each cell keeps its most-observed point, and the best cells win when there are
still too many. World frame and units are the Reconstruction's.
"""
from __future__ import annotations

import numpy as np

from ..reconstruction import Reconstruction

DEFAULT_COUNT = 300


def _best_per_cell(xyz: np.ndarray, order: np.ndarray, cell: float) -> np.ndarray:
    """Indices (in ``order``'s ranking, best first) of the first point of ``order`` in each occupied cell."""
    cells = np.floor(xyz[order] / cell).astype(np.int64)
    cells -= cells.min(axis=0)
    dims = cells.max(axis=0) + 1
    if np.prod(dims.astype(np.float64)) < 2**62:  # one int64 per cell: a plain sort, not one of rows (~20x)
        _, first = np.unique(np.ravel_multi_index(cells.T, dims), return_index=True)
    else:  # astronomically many cells (a far outlier at a tiny cell): unique rows
        _, first = np.unique(cells, axis=0, return_index=True)
    return order[np.sort(first)]  # return_index: each cell's first, i.e. best, point


def select_locators(recon: Reconstruction, count: int = DEFAULT_COUNT) -> np.ndarray:
    """[L] int indices into ``recon.sparse_points`` (L <= ``count``), best observed first; empty without a solve.

    Ranking: number of inlier observations (``sparse_obs``), more is better. Spread: at most one point per
    cell of a cubic grid; the cell size is bisected (on a log scale, within the points' 2nd-98th percentile
    extent) so the number of occupied cells is close to ``count``.
    """
    if recon.sparse_points is None or count <= 0 or not len(recon.sparse_points):
        return np.zeros(0, np.int64)
    xyz = np.asarray(recon.sparse_points, np.float64)
    seen = np.bincount(np.asarray(recon.sparse_obs)[:, 1], minlength=len(xyz))
    order = np.argsort(-seen, kind="stable")
    if len(xyz) <= count:
        return order
    extent = float(np.max(np.percentile(xyz, 98, axis=0) - np.percentile(xyz, 2, axis=0))) or 1.0
    lo, hi = np.log(extent * 1e-4), np.log(extent)
    for _ in range(30):  # the number of occupied cells falls as the cells grow
        mid = 0.5 * (lo + hi)
        if len(_best_per_cell(xyz, order, float(np.exp(mid)))) > count:
            lo = mid
        else:
            hi = mid
    return _best_per_cell(xyz, order, float(np.exp(hi)))[:count]
