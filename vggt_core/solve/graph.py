"""The per-frame error graph of a solve report as a PNG (Pillow, already a dependency; no plotting library).

x: plate frame numbers (``report["frame_numbers"]``); y: plate pixels. Solve error (mean over a frame's inlier
observations) in blue, held-out validation error (median) in orange, frames the verdict marks ``check`` as red
bands, the verdict in the title, the verdict's plate-pixel threshold (``report["good_rmse_px"]``) as a green line.
The y scale is robust: it ends at four times the errors' 90th percentile (or just above the threshold, whichever is
higher), so one bad frame cannot flatten the rest; a value above it is drawn at the top as a triangle with its value
written.
Drawn for people, not parsed: the numbers live in the report.
"""
from __future__ import annotations

from pathlib import Path

SIZE = (960, 320)
_MARGIN = (56, 30, 16, 40)  # left, top, right, bottom
_SOLVE, _VALID, _CHECK, _AXIS, _GOOD = (40, 110, 220), (240, 140, 20), (250, 205, 205), (90, 90, 90), (40, 150, 70)


def write_error_graph(report: dict, path: str | Path) -> Path | None:
    """Write the graph of ``report`` (a bundle-adjusted solve's, ``report.make_report`` + ``verdict``) to
    ``path``; returns it, or None when the report has no per-frame errors (no adjustment ran)."""
    from PIL import Image, ImageDraw

    numbers = report.get("frame_numbers")
    solve = report.get("per_frame_px")
    if not numbers or solve is None:
        return None
    valid = report.get("per_frame_validation_px") or [None] * len(numbers)
    values = [v for v in (*solve, *valid) if v is not None]
    good = report.get("good_rmse_px")
    top = max(min(max(values, default=0.0), 4.0 * _quantile(values, 0.9)), 1e-3) * 1.1
    if good:
        top = max(top, 1.25 * good)
    img = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(img)
    left, up, right, bottom = _MARGIN[0], _MARGIN[1], SIZE[0] - _MARGIN[2], SIZE[1] - _MARGIN[3]
    lo, hi = min(numbers), max(numbers)

    def x(n: int) -> float:
        return left + (n - lo) / max(hi - lo, 1) * (right - left)

    def y(v: float) -> float:
        return bottom - min(v, top) / top * (bottom - up)

    half = (right - left) / max(len(numbers) - 1, 1) / 2
    for n in report.get("check_frames", []):
        draw.rectangle([x(n) - half, up, x(n) + half, bottom], fill=_CHECK)
    if good:  # the verdict's threshold, dashed
        for x0 in range(left, right, 12):
            draw.line([x0, y(good), min(x0 + 6, right), y(good)], fill=_GOOD, width=1)
        draw.text((right - 150, y(good) - 14), f"good: RMSE under {good:.1f} px", fill=_GOOD)
    draw.line([left, up, left, bottom, right, bottom], fill=_AXIS)
    for frac in (0.0, 0.5, 1.0):
        draw.text((2, y(frac * top) - 6), f"{frac * top:.2f}", fill=_AXIS)
    for n in (lo, (lo + hi) // 2, hi):
        draw.text((x(n) - 8, bottom + 6), str(n), fill=_AXIS)
    draw.text((left, 4), f"solve error per frame, plate px: verdict {report.get('verdict', '-')}", fill=_AXIS)
    draw.text((left + 8, up), "solve px", fill=_SOLVE)
    draw.text((left + 80, up), "held-out px", fill=_VALID)
    draw.text(((left + right) // 2 - 30, bottom + 22), "plate frame", fill=_AXIS)
    draw.text((2, 4), "px", fill=_AXIS)
    for series, colour in ((solve, _SOLVE), (valid, _VALID)):
        pts = [(x(n), y(v)) for n, v in zip(numbers, series) if v is not None]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        for px, py in pts:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
        for n, v in zip(numbers, series):
            if v is not None and v > top:  # off the scale: a triangle at the top and the value
                draw.polygon([(x(n) - 5, up + 8), (x(n) + 5, up + 8), (x(n), up)], fill=colour)
                draw.text((x(n) + 6, up), f"{v:.1f}", fill=colour)
    out = Path(path)
    img.save(out, format="PNG")
    return out


def _quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (0.0 for none), without numpy."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]
