"""The solve report: what the lens model and bundle adjustment did, in original plate pixels (JSON-ready)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..reconstruction import Lens


def make_report(
    lens: str, refine: str, k_before: np.ndarray, k_after: np.ndarray, adjusted: Any, seconds: float,
    validation: np.ndarray | None, solved: Lens,
) -> dict:
    """Report dict: lens, refine, focal_before_px / focal_after_px (the shot's median ``sqrt(fx * fy)``: VGGT's
    prediction, and the solved one), seconds; with bundle adjustment also camera_model (the adjustment's), k1, k2
    (the ``solved`` lens's, the median over frames: ``Reconstruction.lens`` holds each frame's), tracks_used,
    observations, outliers_rejected, mean_px / rmse_px (reprojection error over inlier observations) and
    per_frame_px (mean error per frame, None where a frame kept no observation), focal_sd_pct (the refined
    focal's standard deviation in percent, the median over frames; None when the focal was held); with held-out tracks
    (``validation [S, N]`` plate px, NaN unseen, ``verdict.validation_errors``) validation_tracks,
    validation_px (their median reprojection error: robust to the outliers they keep) and
    per_frame_validation_px. ``solve`` adds verdict, reasons and check_frames (``verdict.judge``)."""
    focal = lambda k: float(np.median(np.sqrt(k[:, 0, 0] * k[:, 1, 1])))  # noqa: E731
    report: dict[str, Any] = {"lens": lens, "refine": refine, "focal_before_px": focal(k_before),
                              "focal_after_px": focal(k_after), "seconds": round(seconds, 3)}
    if adjusted is not None:
        err = adjusted.errors[adjusted.seen]
        per_frame = [float(np.mean(e[s])) if s.any() else None for e, s in zip(adjusted.errors, adjusted.seen)]
        report.update(
            camera_model=adjusted.camera_model,
            k1=float(np.median(solved.k[:, 0])),
            k2=float(np.median(solved.k[:, 1])),
            tracks_used=int(adjusted.seen.any(axis=0).sum()),
            observations=int(adjusted.seen.sum()),
            outliers_rejected=adjusted.rejected,
            mean_px=float(np.mean(err)),
            rmse_px=float(np.sqrt(np.mean(err**2))),
            per_frame_px=per_frame,
            focal_sd_pct=None if adjusted.focal_sd is None else round(float(np.median(adjusted.focal_sd)) * 100, 3),
        )
    if adjusted is not None and validation is not None:
        seen = ~np.isnan(validation)
        finite = np.where(np.isfinite(validation), validation, np.nan)
        report.update(
            validation_tracks=int(seen.any(axis=0).sum()),
            validation_px=float(np.nanmedian(finite)) if np.isfinite(finite).any() else None,
            per_frame_validation_px=[float(np.nanmedian(v)) if np.isfinite(v).any() else None for v in finite],
        )
    return report


def summary_line(report: dict) -> str:
    """One line for the CLIs and the panel."""
    line = f"lens {report['lens']}, focal {report['focal_before_px']:.1f} -> {report['focal_after_px']:.1f} px"
    if report.get("lens_reason"):
        line += f" ({report['lens_reason']})"
    if report.get("motion_reason"):
        line += f"; motion {report['motion_reason']}"
    if "mean_px" in report:
        model = f" ({report['rmse_model_px']:.3f} model px)" if report.get("rmse_model_px") is not None else ""
        line += (f"; BA: error {report['rmse_px']:.3f} px RMSE on the plate{model}, {report['mean_px']:.3f} px mean, "
                 f"{report['tracks_used']} tracks, {report['outliers_rejected']} outliers rejected")
        if report.get("k1") or report.get("k2"):
            line += f", k1 {report['k1']:.4f} k2 {report['k2']:.4f}"
        if report.get("validation_rmse_px") is not None:
            line += f"; held-out tracks {report['validation_rmse_px']:.3f} px RMSE"
            if report.get("validation_rmse_model_px") is not None:
                line += f" ({report['validation_rmse_model_px']:.3f} model px)"
        elif report.get("validation_px") is not None:
            line += f"; held-out tracks {report['validation_px']:.3f} px median"
        if report.get("focal_sd_pct") is not None:
            line += f"; focal +-{report['focal_sd_pct']:.2f} %"
    if report.get("skipped"):
        line += f"; {report['skipped']}"
    if report.get("verdict"):
        line += f"; verdict {report['verdict']}" + "".join(f" | {r}" for r in report.get("reasons", []))
    return line
