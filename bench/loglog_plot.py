"""Minimal log-log line charts drawn with Pillow (the project does not depend on matplotlib)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


@dataclass
class Series:
    """One line: points (x, y) with x, y > 0 (others are dropped); dashed lines mark reference data."""

    label: str
    xs: list[float]
    ys: list[float]
    color: str = "#000000"
    dashed: bool = False


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: scalable built-in font
    except TypeError:
        return ImageFont.load_default()


def _decades(values: list[float]) -> tuple[float, float]:
    lo, hi = math.log10(min(values)), math.log10(max(values))
    lo, hi = math.floor(lo), math.ceil(hi)
    return float(lo), float(hi if hi > lo else lo + 1)


def _dashed_line(draw: ImageDraw.ImageDraw, p0: tuple[float, float], p1: tuple[float, float], color: str, width: int) -> None:
    length = math.dist(p0, p1)
    n = max(1, int(length // 8))
    for i in range(0, n, 2):
        a, b = i / n, min(1.0, (i + 1) / n)
        draw.line([(p0[0] + (p1[0] - p0[0]) * a, p0[1] + (p1[1] - p0[1]) * a),
                   (p0[0] + (p1[0] - p0[0]) * b, p0[1] + (p1[1] - p0[1]) * b)], fill=color, width=width)  # fmt: skip


def _draw_panel(draw: ImageDraw.ImageDraw, panel: Panel, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    font, small = _font(16), _font(13)
    pts = [(x, y) for s in panel.series for x, y in zip(s.xs, s.ys) if x and y and x > 0 and y > 0]
    draw.text(((x0 + x1) / 2, y0 - 28), panel.title, fill="black", font=font, anchor="ms")
    draw.rectangle(box, outline="black")
    if not pts:
        draw.text(((x0 + x1) / 2, (y0 + y1) / 2), "no data", fill="gray", font=font, anchor="mm")
        return
    lx0, lx1 = _decades([p[0] for p in pts])
    ly0, ly1 = _decades([p[1] for p in pts])

    def at(x: float, y: float) -> tuple[float, float]:
        return (x0 + (math.log10(x) - lx0) / (lx1 - lx0) * (x1 - x0), y1 - (math.log10(y) - ly0) / (ly1 - ly0) * (y1 - y0))

    for axis, (a, b) in (("x", (lx0, lx1)), ("y", (ly0, ly1))):
        for e in range(int(a), int(b) + 1):
            for m in (1, 2, 5):
                v = m * 10.0**e
                if not a <= math.log10(v) <= b:
                    continue
                label = f"{v:g}"
                color = "#bbbbbb" if m == 1 else "#e6e6e6"
                if axis == "x":
                    px = at(v, 10**ly0)[0]
                    draw.line([(px, y0), (px, y1)], fill=color)
                    draw.text((px, y1 + 6), label, fill="black", font=small, anchor="mt")
                else:
                    py = at(10**lx0, v)[1]
                    draw.line([(x0, py), (x1, py)], fill=color)
                    draw.text((x0 - 6, py), label, fill="black", font=small, anchor="rm")
    draw.rectangle(box, outline="black")
    draw.text(((x0 + x1) / 2, y1 + 30), panel.xlabel, fill="black", font=font, anchor="mt")
    draw.text((x0 - 60, y0 - 10), panel.ylabel, fill="black", font=font, anchor="ls")

    for s in panel.series:
        line = [at(x, y) for x, y in zip(s.xs, s.ys) if x and y and x > 0 and y > 0]
        for p, q in zip(line, line[1:]):
            if s.dashed:
                _dashed_line(draw, p, q, s.color, 2)
            else:
                draw.line([p, q], fill=s.color, width=2)
        for px, py in line:
            r = 3
            if s.dashed:
                draw.rectangle([px - r, py - r, px + r, py + r], outline=s.color)
            else:
                draw.ellipse([px - r, py - r, px + r, py + r], fill=s.color)

    ly = y0 + 8
    for s in panel.series:
        if s.dashed:
            _dashed_line(draw, (x0 + 10, ly + 7), (x0 + 40, ly + 7), s.color, 2)
        else:
            draw.line([(x0 + 10, ly + 7), (x0 + 40, ly + 7)], fill=s.color, width=2)
        draw.text((x0 + 46, ly), s.label, fill="black", font=small)
        ly += 18


def draw_loglog(path: Path, panels: list[Panel], title: str = "", panel_size: tuple[int, int] = (620, 460)) -> Path:
    """Draw `panels` side by side (log10 axes) into a PNG at `path`; returns `path`."""
    pw, ph = panel_size
    margin_l, margin_r, margin_t, margin_b = 90, 30, 80, 70
    width = len(panels) * (pw + margin_l + margin_r)
    img = Image.new("RGB", (width, ph + margin_t + margin_b), "white")
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((width / 2, 10), title, fill="black", font=_font(18), anchor="mt")
    for i, panel in enumerate(panels):
        left = i * (pw + margin_l + margin_r) + margin_l
        _draw_panel(draw, panel, (left, margin_t, left + pw, margin_t + ph))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
