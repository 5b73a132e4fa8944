"""The SVG line chart: points in order, scaled into the drawing, escaped text, empty series."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from stockade.stats.svg import HEIGHT, WIDTH, line_chart

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own markup


def test_points_and_scale() -> None:
    start = dt.date(2026, 1, 1)
    series = [(start + dt.timedelta(days=i), float(v)) for i, v in enumerate([0, 5, 10, 2.5])]
    chart = line_chart("c1", "Users <&> over time", series, unit="%")
    assert chart.points == 4
    root = parse(chart.svg)
    assert root.get("role") == "img"
    assert root.find(f"{NS}title").text == "Users <&> over time"  # type: ignore[union-attr]
    desc = root.find(f"{NS}desc").text  # type: ignore[union-attr]
    assert (
        desc == "4 daily values from 2026-01-01 to 2026-01-04; lowest 0%, highest 10%, latest 2.5%."
    )
    circles = root.findall(f"{NS}circle")
    assert [c.get("data-value") for c in circles] == ["0", "5", "10", "2.5"]
    xs = [float(c.get("cx", "")) for c in circles]
    ys = [float(c.get("cy", "")) for c in circles]
    assert xs == sorted(xs) and 0 < xs[0] < xs[-1] < WIDTH
    assert ys[2] < ys[1] < ys[0] < HEIGHT  # higher values are drawn higher
    assert [c.find(f"{NS}title").text for c in circles][-1] == "2026-01-04: 2.5%"  # type: ignore[union-attr]
    points = root.find(f"{NS}polyline").get("points")  # type: ignore[union-attr]
    assert len(re.findall(r"[\d.]+,[\d.]+", points or "")) == 4
    labels = [t for t in root.findall(f"{NS}text") if t.get("class") == "x-label"]
    assert [(t.text, t.get("text-anchor")) for t in labels] == [
        ("2026-01-01", "start"),
        ("2026-01-04", "end"),
    ]


def test_single_and_empty_series() -> None:
    one = line_chart("c2", "One", [(dt.date(2026, 5, 1), 7.0)])
    root = parse(one.svg)
    assert len(root.findall(f"{NS}circle")) == 1
    # One day, one date: not the same date drawn twice on top of itself.
    labels = [t for t in root.findall(f"{NS}text") if t.get("class") == "x-label"]
    assert [(t.text, t.get("text-anchor")) for t in labels] == [("2026-05-01", "middle")]
    empty = line_chart("c3", "None", [])
    assert empty.points == 0
    assert "No daily snapshots in this range yet." in empty.svg
    parse(empty.svg)
