"""A small server-rendered SVG line chart: inline ``<svg>``, no script, readable without CSS.

Each point is a ``<circle>`` with a ``<title>`` (date: value) so a pointer or a screen reader
can read exact values; the chart also carries ``role="img"`` and a text description.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Chart", "line_chart"]

# The drawing is about as wide as a dashboard card on a phone, so its text is drawn near its
# own size there (and larger on a wide screen) rather than scaled down below readability.
WIDTH, HEIGHT = 360, 190
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 12, 32
FONT = 13


@dataclass(frozen=True)
class Chart:
    """The markup and what it shows (for tests and the accessible description)."""

    svg: str
    points: int


def _fmt(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{int(value):,}"


def _raw(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[tuple[dt.date, float]],
    *,
    unit: str = "",
) -> Chart:
    """An SVG line chart of ``series`` (oldest first)."""
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    head = (
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{title_id}">{escape(title)}</title>'
    )
    if not series:
        desc = "No daily snapshots in this range yet."
        body = (
            f'<desc id="{desc_id}">{desc}</desc>'
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="{FONT}" '
            'fill="#4b5563">'
            f"{desc}</text>"
        )
        return Chart(head + body + "</svg>", 0)
    values = [float(v) for _, v in series]
    low = min(0.0, min(values))
    high = max(values)
    if high == low:
        high = low + 1
    first, last = series[0][0], series[-1][0]
    span_days = max((last - first).days, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: dt.date) -> float:
        if first == last:
            return LEFT + plot_w / 2
        return LEFT + plot_w * (day - first).days / span_days

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    suffix = unit
    desc = (
        f"{len(series)} daily values from {first.isoformat()} to {last.isoformat()}; "
        f"lowest {_fmt(min(values))}{suffix}, highest {_fmt(max(values))}{suffix}, "
        f"latest {_fmt(values[-1])}{suffix}."
    )
    parts = [f'<desc id="{desc_id}">{escape(desc)}</desc>']
    # Axes and grid: bottom, middle and top value lines.
    for value in (low, (low + high) / 2, high):
        gy = y(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{WIDTH - RIGHT}" y2="{gy:.1f}" '
            'stroke="#d8dde3" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" font-size="{FONT}" '
            f'fill="#4b5563">{escape(_fmt(round(value, 2)))}{escape(suffix)}</text>'
        )
    # The first and last dates only, pinned to the plot's two ends, so they never overlap;
    # a single day gets a single, centred label.
    ends = ((first, "start"), (last, "end")) if first != last else ((first, "middle"),)
    for day, anchor in ends:
        parts.append(
            f'<text class="x-label" x="{x(day):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" '
            f'font-size="{FONT}" fill="#4b5563">{day.isoformat()}</text>'
        )
    coords = " ".join(
        f"{x(d):.1f},{y(v):.1f}" for d, v in zip((d for d, _ in series), values, strict=True)
    )
    parts.append(
        '<polyline class="series" fill="none" stroke="#1f3a5f" stroke-width="2" '
        f'points="{coords}"/>'
    )
    radius = 3 if len(series) <= 120 else 1.5
    for (day, _), value in zip(series, values, strict=True):
        parts.append(
            f'<circle class="point" data-date="{day.isoformat()}" data-value="{_raw(value)}" '
            f'cx="{x(day):.1f}" cy="{y(value):.1f}" r="{radius}" fill="#1f3a5f">'
            f"<title>{day.isoformat()}: {escape(_fmt(value))}{escape(suffix)}</title></circle>"
        )
    return Chart(head + "".join(parts) + "</svg>", len(series))
