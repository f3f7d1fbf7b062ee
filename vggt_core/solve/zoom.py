"""Whether a shot zooms, settled by its tracks: the shot's one-lens solve adjusted again with a focal per frame.

VGGT's per-frame focal alone (``lens.focal_drift``) cannot tell a zoom from correlated noise: 5 % noise that
drifts with the frames fakes a 20 % zoom or hides most of a 1.2x one. The tracks can. From the shot's solve with
one shared focal (static tracks only: movers are rejected first), the cameras and points are adjusted again with a
focal per frame (square pixels, one principal point); the zoom is taken only when it fits significantly better,
its cost drop in units of the observations' noise variance beating the Bayesian information criterion's price of
its ``S - 1`` extra focals, ``(S - 1) ln(n)`` over ``n`` residuals (a fixed lens gains about ``S - 1``, the noise
it fits; a 1.2x zoom thousands), and when it moves the focal by ``lens.ZOOM_FLAT`` (2 %) over the shot: a pinhole
per-frame focal soaks up a little of a distorted plate's bending, a gain without a drift. Not the drift alone: a
push-in's per-frame focal trades against depth and drifts 30 % under a fixed lens, with no gain. Plate pixels.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .adjust import Adjusted, bundle_adjust
from .lens import ZOOM_FLAT, focal_drift
from .nodal import nodal_adjust
from .verdict import project


@dataclass(frozen=True)
class ZoomTest:
    """gain: how much lower a focal per frame brings the cost than one focal, in noise variances; price: what its
    extra focals must gain (BIC); drift: how far the per-frame solve's focal moves over the shot (``lens.focal_drift``,
    log focal)."""

    gain: float
    price: float
    drift: float

    @property
    def zooms(self) -> bool:
        """A zoom fits significantly better and moves the focal: a per-frame focal also soaks up a little of a
        distorted plate (a pinhole dolly through k1 = -0.15 gains 1.5x the price, its focal moving 1 %)."""
        return bool(self.gain > self.price and abs(self.drift) >= ZOOM_FLAT)

    def __str__(self) -> str:
        better = "better" if self.gain > self.price else "no better"
        small = f", under {ZOOM_FLAT:.0%}: one lens" if self.gain > self.price and not self.zooms else ""
        return (f"a focal per frame fits the tracks {better} than one (gain {self.gain:.0f} noise variances, "
                f"{self.price:.0f} needed) and moves {np.expm1(self.drift):+.1%}{small}")


def zoom_test(
    one: Adjusted, sizes: list[tuple[int, int]], uv: np.ndarray, tripod: bool, distortion: str = "none",
    cancel: Callable[[], bool] | None = None, **limits,
) -> ZoomTest:
    """``one``, the shot adjusted with one lens (its static inliers, after mover rejection), adjusted again from
    there with a focal per frame, and the two compared (``ZoomTest``). uv: observations ``[S,N,2]`` (plate px);
    tripod: ``one`` is ``nodal.py``'s (points are directions); distortion: the solve's, held at ``one``'s k1, k2
    on the free adjuster (the nodal one refines one for the shot either way); limits: ``max_error_px`` and
    ``loss_scale_px`` as the solve's."""
    if tripod:
        per = nodal_adjust(one.intrinsics, one.extrinsics[:, :, :3], one.points, uv, one.seen, shared=False,
                           distortion=distortion, rounds=1, cancel=cancel, **limits)
    else:
        per = bundle_adjust(one.intrinsics, one.extrinsics, sizes, uv, one.seen, one.points, shared=False,
                            square=True, distortion=distortion, dist=one.distortion, rounds=1, cancel=cancel,
                            **limits)
    both = one.seen & per.seen
    if not both.any():  # the per-frame solve kept none of the tracks: nothing shows a zoom fits better
        return ZoomTest(0.0, float("inf"), 0.0)
    scale2 = float(limits["loss_scale_px"]) ** 2

    def cost(adjusted: Adjusted) -> float:  # the Cauchy cost both adjusters minimise, on the same observations
        proj, _ = project(adjusted.intrinsics, adjusted.extrinsics, adjusted.distortion, adjusted.points)
        return float(np.sum(scale2 * np.log1p(np.sum((proj - uv)[both] ** 2, axis=-1) / scale2)))

    # noise variance per axis, from the larger model; a millipixel at least (noiseless stand-ins)
    sigma2 = max(float(np.mean(per.errors[both] ** 2)) / 2, 1e-6)
    return ZoomTest((cost(one) - cost(per)) / sigma2, (len(sizes) - 1) * float(np.log(2 * both.sum())),
                    focal_drift(per.intrinsics[:, 0, 0]).change)
