"""Plots as inline SVG text for the HTML reports: scatter and line charts, bar charts.

Hand-written SVG rather than a plotting library: a report must open offline from `file://` and
stay small, and these plots need only points, lines, bars, axes and tooltips. Every point,
line and bar carries a `<title>` (the browser's tooltip); series carry a class `s<k>` so the
report's script can highlight one from the legend.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

WIDTH, HEIGHT = 600, 380
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 72, 18, 34, 52
#: Room right of a chart for its legend: columns of entries.
LEGEND_WIDTH, LEGEND_ROWS, LEGEND_COLUMNS = 240, 23, 2
#: Colour-blind-safe palette (Okabe & Ito 2008), cycled for series.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tip: str  # tooltip text
    label: str = ""  # drawn beside the point when given


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[Point, ...]
    line: bool = False  # join the points in order
    dots: bool = True


@dataclass(frozen=True)
class Guide:
    """A dashed reference line across the plot (`axis` "x": vertical at `value`, "y": horizontal)."""

    axis: str
    value: float
    label: str


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    tip: str
    group: int = 0  # colour index


@dataclass(frozen=True)
class Axis:
    """A linear or log10 axis from `low` to `high` (data units) onto pixels `start`..`end`."""

    low: float
    high: float
    start: float
    end: float
    log: bool = False

    def __call__(self, value: float) -> float:
        lo, hi, v = (math.log10(self.low), math.log10(self.high), math.log10(value)) if self.log else (self.low, self.high, value)
        return self.start + (v - lo) / (hi - lo) * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        """Decades on a log axis, 1-2-5 steps on a linear one, with their labels."""
        if self.log:
            first, last = math.ceil(math.log10(self.low) - 1e-9), math.floor(math.log10(self.high) + 1e-9)
            step = max(1, math.ceil((last - first + 1) / 8))
            return [(10.0 ** k, power_label(k)) for k in range(first, last + 1, step)]
        step = nice_step((self.high - self.low) / 6)
        first = math.ceil(self.low / step - 1e-9)
        values = [k * step for k in range(first, int(math.floor(self.high / step + 1e-9)) + 1)]
        return [(v, number_label(v, step)) for v in values]


def power_label(k: int) -> str:
    return {0: "1", 1: "10"}.get(k, "10" + str(k).translate(_SUPERSCRIPT))


def nice_step(rough: float) -> float:
    """The 1, 2, 2.5 or 5 × 10^k step nearest above `rough`."""
    if rough <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(rough))
    return next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= rough * 0.999)


def number_label(value: float, step: float) -> str:
    """`value` with as many decimals as the tick step has (scientific from a million)."""
    if abs(value) >= 1e6:
        return f"{value:.3g}"
    decimals = len(f"{step:.9f}".rstrip("0").split(".")[1])
    return f"{value:,.{decimals}f}"


def _extent(values: Sequence[float], log: bool) -> tuple[float, float]:
    """Axis limits with a margin; a log axis spans whole decades around the data."""
    lo, hi = min(values), max(values)
    if log:
        return 10.0 ** math.floor(math.log10(lo)), 10.0 ** math.ceil(math.log10(hi) + (1e-9 if lo == hi else 0))
    if lo == hi:
        return lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def _frame(title: str, x_label: str, y_label: str, css_id: str, body: list[str], x_axis: Axis, y_axis: Axis,
           x_ticks: bool = True, extra_width: int = 0) -> str:
    """Axes, ticks, grid, labels and title around `body`, as one `<svg>` element (`extra_width`
    pixels wider on the right, for a legend)."""
    left, right, top, bottom = MARGIN_LEFT, WIDTH - MARGIN_RIGHT, MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    full = WIDTH + extra_width
    out = [f'<svg class="plot" id="{escape(css_id)}" viewBox="0 0 {full} {HEIGHT}" width="{full}" height="{HEIGHT}" '
           f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>",
           f'<text class="plot-title" x="{left}" y="20">{escape(title)}</text>']
    for value, label in x_axis.ticks() if x_ticks else ():
        x = x_axis(value)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{escape(label)}</text>')
    for value, label in y_axis.ticks():
        y = y_axis(value)
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    out.append(f'<rect class="frame" x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/>')
    out += body
    out.append(f'<text class="axis-label" x="{(left + right) / 2}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text class="axis-label" transform="translate(16 {(top + bottom) / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    out.append("</svg>")
    return "".join(out)


def chart(series: Sequence[Series], *, title: str, x_label: str, y_label: str, css_id: str,
          x_log: bool = False, y_log: bool = False, guides: Sequence[Guide] = (), marks: Sequence[Point] = (),
          legend: bool = False) -> str:
    """A scatter/line chart of `series`, with dashed `guides` and highlighted `marks` (a ring and
    a label). Points with a non-positive coordinate on a log axis are left out (noted in the title)."""
    def shown(p: Point) -> bool:
        return all(math.isfinite(v) for v in (p.x, p.y)) and not (x_log and p.x <= 0) and not (y_log and p.y <= 0)

    kept = [Series(s.name, tuple(p for p in s.points if shown(p)), s.line, s.dots) for s in series]
    dropped = sum(len(s.points) for s in series) - sum(len(s.points) for s in kept)
    marks = [m for m in marks if shown(m)]
    xs = [p.x for s in kept for p in s.points] + [m.x for m in marks] + [g.value for g in guides if g.axis == "x"]
    ys = [p.y for s in kept for p in s.points] + [m.y for m in marks] + [g.value for g in guides if g.axis == "y"]
    if dropped:
        title += f" ({dropped} point{'s' if dropped != 1 else ''} ≤ 0 not shown on the log axis)"
    if not xs or not ys:
        return _empty(title, css_id)
    x_axis = Axis(*_extent(xs, x_log), MARGIN_LEFT, WIDTH - MARGIN_RIGHT, x_log)
    y_axis = Axis(*_extent(ys, y_log), HEIGHT - MARGIN_BOTTOM, MARGIN_TOP, y_log)
    body: list[str] = []
    for g in guides:
        if g.axis == "y":
            y = y_axis(g.value)
            body.append(f'<line class="guide" x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y:.1f}">'
                        f"<title>{escape(g.label)}</title></line>"
                        f'<text class="guide-label" x="{MARGIN_LEFT + 4}" y="{y - 4:.1f}">{escape(g.label)}</text>')
        else:
            x = x_axis(g.value)
            body.append(f'<line class="guide" x1="{x:.1f}" y1="{MARGIN_TOP}" x2="{x:.1f}" y2="{HEIGHT - MARGIN_BOTTOM}">'
                        f"<title>{escape(g.label)}</title></line>"
                        f'<text class="guide-label" x="{x + 4:.1f}" y="{MARGIN_TOP + 12}">{escape(g.label)}</text>')
    for k, s in enumerate(kept):
        colour = PALETTE[k % len(PALETTE)]
        group = [f'<g class="series s{k}" data-series="s{k}" style="--c:{colour}"><title>{escape(s.name)}</title>']
        if s.line and len(s.points) > 1:
            path = " ".join(f"{x_axis(p.x):.1f},{y_axis(p.y):.1f}" for p in s.points)
            group.append(f'<polyline class="line" points="{path}"/>')
        if s.dots:
            for p in s.points:
                x, y = x_axis(p.x), y_axis(p.y)
                group.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5"><title>{escape(p.tip)}</title></circle>')
                if p.label:
                    left_of = x > WIDTH - MARGIN_RIGHT - 6 * len(p.label)  # keep the label inside the frame
                    group.append(f'<text class="point-label" x="{x - 5 if left_of else x + 5:.1f}" y="{y - 5:.1f}" '
                                 f'text-anchor="{"end" if left_of else "start"}">{escape(p.label)}</text>')
        group.append("</g>")
        body += group
    for m in marks:
        x, y = x_axis(m.x), y_axis(m.y)
        near_right = x > WIDTH - MARGIN_RIGHT - 90  # the label goes left of the ring there
        text_x, anchor = (x - 10, "end") if near_right else (x + 10, "start")
        text_y = y + 16 if y < HEIGHT - MARGIN_BOTTOM - 20 else y - 12
        body.append(f'<g class="mark"><circle cx="{x:.1f}" cy="{y:.1f}" r="8"><title>{escape(m.tip)}</title></circle>'
                    f'<text x="{text_x:.1f}" y="{text_y:.1f}" text-anchor="{anchor}">{escape(m.label)}</text></g>')
    with_legend = legend and len(kept) > 1
    if with_legend:
        body.append(_legend(kept))
    return _frame(title, x_label, y_label, css_id, body, x_axis, y_axis, extra_width=LEGEND_WIDTH if with_legend else 0)


def _legend(series: Sequence[Series]) -> str:
    """One entry per series right of the frame, in columns of LEGEND_ROWS (the rest named by tooltips)."""
    out = ['<g class="legend">']
    shown = series[: LEGEND_ROWS * LEGEND_COLUMNS]
    for k, s in enumerate(shown):
        x = WIDTH + (k // LEGEND_ROWS) * (LEGEND_WIDTH // LEGEND_COLUMNS)
        y = MARGIN_TOP + 8 + (k % LEGEND_ROWS) * 13
        colour = PALETTE[k % len(PALETTE)]
        name = s.name if len(s.name) <= 17 else "…" + s.name[-16:]
        out.append(f'<g class="legend-item" data-series="s{k}"><rect x="{x}" y="{y - 8}" width="9" height="9" '
                   f'fill="{colour}"/><text x="{x + 12}" y="{y}">{escape(name)}</text><title>{escape(s.name)}</title></g>')
    if len(series) > len(shown):
        out.append(f'<text x="{WIDTH}" y="{HEIGHT - MARGIN_BOTTOM + 14}">… {len(series) - len(shown)} more</text>')
    out.append("</g>")
    return "".join(out)


def bar_chart(bars: Sequence[Bar], *, title: str, y_label: str, x_label: str, css_id: str) -> str:
    """Vertical bars from zero, one per entry, labelled underneath when there is room."""
    if not bars:
        return _empty(title, css_id)
    top = max(b.value for b in bars)
    y_axis = Axis(0.0, top * 1.06 if top > 0 else 1.0, HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)
    x_axis = Axis(0.0, float(len(bars)), MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    width = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(bars)
    body = []
    for k, b in enumerate(bars):
        x, y = MARGIN_LEFT + k * width, y_axis(max(b.value, 0.0))
        colour = PALETTE[b.group % 2]
        body.append(f'<rect class="bar" x="{x + width * 0.1:.1f}" y="{y:.1f}" width="{width * 0.8:.1f}" '
                    f'height="{HEIGHT - MARGIN_BOTTOM - y:.1f}" fill="{colour}"><title>{escape(b.tip)}</title></rect>')
        if width >= 26:
            label = b.label if len(b.label) * 5.5 <= width else b.label[: max(1, int(width / 5.5) - 1)] + "…"
            body.append(f'<text class="tick" x="{x + width / 2:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 14}" '
                        f'text-anchor="middle">{escape(label)}</text>')
    return _frame(title, x_label, y_label, css_id, body, x_axis, y_axis, x_ticks=False)


def _empty(title: str, css_id: str) -> str:
    return (f'<svg class="plot" id="{escape(css_id)}" viewBox="0 0 {WIDTH} 80" width="{WIDTH}" height="80" role="img" '
            f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><text class="plot-title" x="10" y="24">'
            f'{escape(title)}</text><text x="10" y="52">nothing to plot</text></svg>')
