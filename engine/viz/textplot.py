"""Line charts as text, for the terminal (`plot history term=true`); no dependencies.

    line_chart({"loss": [...], "val_loss": [...]}, width=70, height=12, unicode=True)

returns the chart as a string: a y axis labelled with the maximum (top row) and minimum (bottom row), an x
axis labelled with the first and last x value, and a legend line. Points are joined by straight lines.

With `unicode=True` a single series is drawn in Braille dots (2 x 4 dots per character cell, so a 70-column
chart resolves 140 x-positions); several series are drawn with one marker per series (● ○ ◆ ×), one point
per cell, so they stay distinguishable without colour. With `unicode=False` everything is plain ASCII
(markers * o + x, axes | - +): for logs, pipes and `TERM=dumb`.

Non-finite values (NaN, inf) are left out (a history padded with NaN for epochs a metric did not exist).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

UNICODE_MARKERS = ("●", "○", "◆", "×", "▲", "■")
ASCII_MARKERS = ("*", "o", "+", "x", "#", "@")

# Braille dot bits by (column 0/1, row 0..3 from the top): U+2800 + bits
_BRAILLE_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


def format_tick(value: float) -> str:
    """A short axis label: 4 significant digits, scientific for very small or large values."""
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e5:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _points(values: Sequence[float], xs: Sequence[float] | None):
    xs = list(xs) if xs is not None else [i + 1 for i in range(len(values))]
    if len(xs) != len(values):
        raise ValueError(f"x has {len(xs)} values, the series {len(values)}")
    return [(float(x), float(y)) for x, y in zip(xs, values)
            if math.isfinite(float(x)) and math.isfinite(float(y))]


def _line(x0: int, y0: int, x1: int, y1: int):
    """The grid points of a straight line from (x0, y0) to (x1, y1) (Bresenham)."""
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        yield x0, y0
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def line_chart(series: Mapping[str, Sequence[float]], *, x: Sequence[float] | None = None, width: int = 70,
               height: int = 12, unicode: bool = True, title: str | None = None, xlabel: str = "",
               ylim: tuple[float, float] | None = None) -> str:
    """The series (name -> y values, plotted against `x`, default 1, 2, ...) as a text line chart of about
    `width` characters (axis labels included) and `height` rows of plot area."""
    points = {name: _points(values, x) for name, values in series.items()}
    drawn = {name: pts for name, pts in points.items() if pts}
    lines = [title] if title else []
    if not drawn:
        return "\n".join(lines + ["(nothing to plot: no finite values)"])
    all_x = [p[0] for pts in drawn.values() for p in pts]
    all_y = [p[1] for pts in drawn.values() for p in pts]
    x_lo, x_hi = min(all_x), max(all_x)
    y_lo, y_hi = (float(ylim[0]), float(ylim[1])) if ylim else (min(all_y), max(all_y))
    if y_hi <= y_lo:                                 # a constant series: centre it
        pad = abs(y_lo) * 0.1 or 0.5
        y_lo, y_hi = y_lo - pad, y_hi + pad
    top, bottom = format_tick(y_hi), format_tick(y_lo)
    label_width = max(len(top), len(bottom))
    cols = max(8, width - label_width - 2)
    rows = max(3, height)
    braille = unicode and len(drawn) == 1
    sub_x, sub_y = (2, 4) if braille else (1, 1)
    grid_w, grid_h = cols * sub_x, rows * sub_y

    def to_grid(px: float, py: float) -> tuple[int, int]:
        gx = 0 if x_hi == x_lo else round((px - x_lo) / (x_hi - x_lo) * (grid_w - 1))
        fy = (py - y_lo) / (y_hi - y_lo)
        gy = round((1.0 - min(max(fy, 0.0), 1.0)) * (grid_h - 1))     # row 0 at the top; ylim clips
        return gx, gy

    # cells[row][col] -> set of series indices (markers) or Braille bits
    cells = [[0] * cols for _ in range(rows)]
    owner: list[list[int | None]] = [[None] * cols for _ in range(rows)]
    for index, pts in enumerate(drawn.values()):
        grid = [to_grid(px, py) for px, py in pts]
        dots = list(_line(*grid[0], *grid[0])) if len(grid) == 1 else \
            [dot for a, b in zip(grid, grid[1:]) for dot in _line(*a, *b)]
        for gx, gy in dots:
            col, row = gx // sub_x, gy // sub_y
            if braille:
                cells[row][col] |= _BRAILLE_BITS[gx % 2][gy % 4]
            else:
                owner[row][col] = index
    markers = UNICODE_MARKERS if unicode else ASCII_MARKERS
    vbar, tick, corner, hbar = ("│", "┤", "└", "─") if unicode else ("|", "+", "+", "-")
    for row in range(rows):
        if braille:
            body = "".join(chr(0x2800 + bits) if bits else " " for bits in cells[row])
        else:
            body = "".join(markers[i % len(markers)] if i is not None else " " for i in owner[row])
        label = top if row == 0 else bottom if row == rows - 1 else ""
        lines.append(f"{label:>{label_width}} {tick if label else vbar}{body.rstrip()}")
    lines.append(" " * label_width + " " + corner + hbar * cols)
    left, right = format_tick(x_lo), format_tick(x_hi)
    xaxis = left + " " * max(1, cols - len(left) - len(right)) + right
    lines.append(" " * (label_width + 2) + xaxis + (f"  {xlabel}" if xlabel else ""))
    if braille:
        legend = [next(iter(drawn))]
    else:
        legend = [f"{markers[i % len(markers)]} {name}" for i, name in enumerate(drawn)]
    lines.append(" " * (label_width + 2) + "   ".join(legend))
    return "\n".join(lines)


def history_charts(history: Mapping[str, Sequence[float]], *, width: int = 70, height: int = 10,
                   unicode: bool = True, title: str | None = None, ylim=None) -> str:
    """A training history as `plots.plot_history` groups it: the loss curves ("loss", "val_loss") in one
    chart, every other metric (accuracy, val_accuracy, ...) in a second; x = epoch, counted from 1.
    `ylim` fixes the y range of the metrics chart (of the loss chart when there are no metrics)."""
    losses = {k: v for k, v in history.items() if k.endswith("loss")}
    metrics = {k: v for k, v in history.items() if not k.endswith("loss")}
    parts = [title] if title else []
    groups = [(name, group) for name, group in (("loss", losses), ("metrics", metrics)) if group]
    for name, group in groups:
        limit = ylim if (name == "metrics" or len(groups) == 1) else None
        parts.append(line_chart(group, width=width, height=height, unicode=unicode, title=name, xlabel="epoch",
                                ylim=limit))
    return "\n\n".join(parts) if groups else "(no history)"
