"""Small inline SVG charts for what is not a time series: histograms, scatters, bars, reliability.

The charting library draws time series only; these few charts need axes, bars and points and nothing
more, so they are drawn here in a few lines of SVG rather than with a second library. Floats are fine
for pixels: the exact figures are in the tables beside each chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .page import COLORS

WIDTH, HEIGHT = 460, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 24, 44


@dataclass(frozen=True)
class Frame:
    """Data ranges mapped to the plot area of one chart."""

    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, value: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return LEFT + (value - self.x0) / span * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        span = self.y1 - self.y0 or 1.0
        return HEIGHT - BOTTOM - (value - self.y0) / span * (HEIGHT - TOP - BOTTOM)


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= step * m)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


def _text(x: float, y: float, text: str, anchor: str = "middle", cls: str = "") -> str:
    extra = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _axes(frame: Frame, x_title: str, y_title: str, x_ticks: Sequence[float] | None = None) -> str:
    """Axis lines, ticks with labels and the axis titles."""
    line = COLORS["line"]
    parts = [f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="{line}"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="{line}"/>']
    for value in ticks(frame.y0, frame.y1):
        y = frame.y(value)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{line}" '
                     'stroke-dasharray="2,3"/>')
        parts.append(_text(LEFT - 6, y + 4, _label(value), "end"))
    for value in x_ticks if x_ticks is not None else ticks(frame.x0, frame.x1):
        parts.append(_text(frame.x(value), HEIGHT - BOTTOM + 15, _label(value)))
    parts.append(_text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, x_title))
    parts.append(f'<text transform="translate(14,{(TOP + HEIGHT - BOTTOM) / 2:.0f}) rotate(-90)" '
                 f'text-anchor="middle">{escape(y_title)}</text>')
    return "".join(parts)


def _svg(chart_id: str, title: str, body: str) -> str:
    return (f'<svg id="{escape(chart_id)}" class="svgchart" width="{WIDTH}" '
            f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>{_text(WIDTH / 2, 15, title)}{body}</svg>")


def empty(chart_id: str, title: str, why: str) -> str:
    """A chart frame that says why there is nothing to draw (no stop exits, no trades)."""
    return _svg(chart_id, title, _text(WIDTH / 2, HEIGHT / 2, why, cls="muted"))


def histogram(chart_id: str, title: str, values: Sequence[float], x_title: str, *, bins: int = 20) -> str:
    """Counts of `values` in equal-width bins."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return empty(chart_id, title, "no values")
    lo, hi = min(finite), max(finite)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in finite:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    frame = Frame(lo, hi, 0, max(counts) * 1.1)
    bars = []
    for i, count in enumerate(counts):
        x, x_end, y = frame.x(lo + i * width), frame.x(lo + (i + 1) * width), frame.y(count)
        bars.append(f'<rect class="bar" x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(x_end - x - 1, 1):.1f}" '
                    f'height="{frame.y(0) - y:.1f}" fill="{COLORS["accent"]}"><title>{lo + i * width:.4g} to '
                    f"{lo + (i + 1) * width:.4g}: {count}</title></rect>")
    return _svg(chart_id, title, _axes(frame, x_title, "count") + "".join(bars))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    bad: bool = False


def scatter(chart_id: str, title: str, points: Sequence[Point], x_title: str, y_title: str, *,
            diagonal: bool = True) -> str:
    """Points, the bad ones (breaches) in red and larger; `diagonal` draws y = x (realised = planned)."""
    if not points:
        return empty(chart_id, title, "no points")
    top = max(max(p.x for p in points), max(p.y for p in points), 1e-9) * 1.1
    bottom = min(0.0, min(p.y for p in points) * 1.1)
    frame = Frame(0.0, top, bottom, top)
    parts = [_axes(frame, x_title, y_title)]
    if diagonal:
        parts.append(f'<line x1="{frame.x(0):.1f}" y1="{frame.y(0):.1f}" x2="{frame.x(top):.1f}" '
                     f'y2="{frame.y(top):.1f}" stroke="{COLORS["muted"]}" stroke-dasharray="5,4"/>')
    for p in points:
        color, radius, cls = (COLORS["bad"], 5, "point breach") if p.bad else (COLORS["ok"], 3, "point")
        parts.append(f'<circle class="{cls}" cx="{frame.x(p.x):.1f}" cy="{frame.y(p.y):.1f}" r="{radius}" '
                     f'fill="{color}" fill-opacity="0.8"><title>{escape(p.label)}</title></circle>')
    return _svg(chart_id, title, "".join(parts))


def bars(chart_id: str, title: str, items: Sequence[tuple[str, float]], y_title: str) -> str:
    """One bar per labelled value (exit-reason counts)."""
    if not items:
        return empty(chart_id, title, "nothing to count")
    frame = Frame(0, len(items), 0, max(max(v for _, v in items), 1) * 1.15)
    parts = [_axes(frame, "", y_title, x_ticks=[])]
    for i, (label, value) in enumerate(items):
        x, x_end, y = frame.x(i + 0.15), frame.x(i + 0.85), frame.y(value)
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{x_end - x:.1f}" height="{frame.y(0) - y:.1f}"'
                     f' fill="{COLORS["accent"]}"><title>{escape(label)}: {value:g}</title></rect>')
        parts.append(_text((x + x_end) / 2, y - 4, f"{value:g}"))
        parts.append(_text((x + x_end) / 2, HEIGHT - BOTTOM + 15, label))
    return _svg(chart_id, title, "".join(parts))


def reliability(chart_id: str, title: str, rows: Sequence[dict[str, float | int | None]],
                threshold: float | None) -> str:
    """Observed win rate against mean predicted probability per bin, y = x dashed, row counts as faint bars
    (scaled to the fullest bin, labelled) and the min-confidence threshold as a vertical line."""
    frame = Frame(0.0, 1.0, 0.0, 1.0)
    parts = [_axes(frame, "mean predicted win probability", "observed win rate"),
             f'<line x1="{frame.x(0):.1f}" y1="{frame.y(0):.1f}" x2="{frame.x(1):.1f}" y2="{frame.y(1):.1f}" '
             f'stroke="{COLORS["muted"]}" stroke-dasharray="5,4"/>']
    most = max((int(r.get("count") or 0) for r in rows), default=0) or 1
    for r in rows:
        lo, hi, count = float(r["lo"] or 0), float(r["hi"] or 0), int(r.get("count") or 0)
        height = count / most * 0.35
        x, x_end, y = frame.x(lo), frame.x(hi), frame.y(height)
        parts.append(f'<rect class="count" x="{x + 1:.1f}" y="{y:.1f}" width="{x_end - x - 2:.1f}" '
                     f'height="{frame.y(0) - y:.1f}" fill="{COLORS["muted"]}" fill-opacity="0.25">'
                     f"<title>{lo:.1f}-{hi:.1f}: {count:,} rows</title></rect>")
        if count:
            parts.append(_text((x + x_end) / 2, y - 3, f"{count:,}" if count < 10_000 else f"{count / 1000:.0f}k"))
    if threshold is not None:
        parts.append(f'<line x1="{frame.x(threshold):.1f}" y1="{TOP}" x2="{frame.x(threshold):.1f}" '
                     f'y2="{HEIGHT - BOTTOM}" stroke="{COLORS["warn"]}" stroke-dasharray="2,2"/>')
    points = [r for r in rows if r.get("count") and r.get("mean_predicted") is not None
              and r.get("observed_rate") is not None]
    path = " ".join(f"{frame.x(float(r['mean_predicted'] or 0)):.1f},{frame.y(float(r['observed_rate'] or 0)):.1f}"
                    for r in points)
    if path:
        parts.append(f'<polyline points="{path}" fill="none" stroke="{COLORS["accent"]}" stroke-width="2"/>')
    for r in points:
        parts.append(f'<circle class="point" cx="{frame.x(float(r["mean_predicted"] or 0)):.1f}" '
                     f'cy="{frame.y(float(r["observed_rate"] or 0)):.1f}" r="4" fill="{COLORS["accent"]}">'
                     f'<title>predicted {r["mean_predicted"]:.3f}, observed {r["observed_rate"]:.3f}, '
                     f'{r["count"]:,} rows</title></circle>')
    return _svg(chart_id, title, "".join(parts))
