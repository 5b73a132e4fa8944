"""The security dashboard in real Chromium: figures, one SVG chart per figure showing the daily
snapshot series, range switching by plain links (no script), no CSP complaints, and the JSON and
CSV it links to holding the same series."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools

import pytest
from playwright.sync_api import expect

from e2e.browser import chromium, watched_page
from stockade.stats.counts import today
from stockade.stats.models import SecuritySnapshot
from stockade.stats.security import FIGURES
from support.index import Index

pytestmark = pytest.mark.e2e

DAYS = (300, 80, 40, 7, 1)


def test_dashboard_in_chromium(index: Index) -> None:
    now = today()
    with index.db.write() as s:
        for n, ago in enumerate(DAYS):
            values: dict[str, float] = {name: (n + 1) * 10 for name in FIGURES}
            values["uploads_attested_pct"] = 12.5 * n
            s.add(SecuritySnapshot(day=now - dt.timedelta(days=ago), **values))
    with index.live() as url, chromium() as browser:
        watched = watched_page(browser)
        page = watched.page
        page.goto(f"{url}/stats/")
        expect(page.locator("h1")).to_have_text("Security statistics")
        charts = page.locator("section.figure svg[role=img]")
        expect(charts).to_have_count(len(FIGURES))
        # The default range (3 months): the four snapshots from the last 92 days, then today's
        # current figure.
        users = page.locator("#chart-users")
        expect(users.locator("circle.point")).to_have_count(5)
        dates = users.locator("circle.point").evaluate_all(
            "els => els.map(e => e.getAttribute('data-date'))"
        )
        assert dates == [(now - dt.timedelta(days=d)).isoformat() for d in (*DAYS[1:], 0)]
        # Drawn left to right, higher values higher up.
        xs = users.locator("circle.point").evaluate_all("els => els.map(e => e.getBBox().x)")
        ys = users.locator("circle.point").evaluate_all("els => els.map(e => e.getBBox().y)")
        assert xs == sorted(xs) and ys[:-1] == sorted(ys[:-1], reverse=True)
        assert users.bounding_box()["width"] > 200  # type: ignore[index]
        attested = page.locator("#chart-uploads_attested_pct circle.point title")
        expect(attested.nth(-2)).to_have_text(f"{(now - dt.timedelta(days=1)).isoformat()}: 50%")
        expect(attested.last).to_have_text(f"{now.isoformat()}: 0%")
        expect(page.locator('[data-figure="users"]')).to_have_text("0")

        page.get_by_role("link", name="All").click()
        page.wait_for_url(f"{url}/stats/?range=all")
        expect(page.locator("#chart-users circle.point")).to_have_count(6)
        expect(page.locator('nav[aria-label="Chart range"] [aria-current=page]')).to_have_text(
            "All"
        )
        assert watched.errors == [] and watched.dialogs == []
        assert not [c for c in watched.console if "Content Security Policy" in c]

        doc = page.request.get(f"{url}/stats/security.json").json()
        table = page.request.get(f"{url}/stats/security.csv").text()
        rows = list(csv.DictReader(io.StringIO(table)))
        assert [r["date"] for r in rows] == [h["date"] for h in doc["history"]]
        assert [float(r["uploads_attested_pct"]) for r in rows] == [
            h["uploads_attested_pct"] for h in doc["history"]
        ]
        assert [int(r["users"]) for r in rows] == [10, 20, 30, 40, 50]


# Each chart's drawn text size in CSS pixels, and its date labels' boxes.
TEXT_SIZES = """() => [...document.querySelectorAll('svg.chart text')].map(
    t => parseFloat(t.getAttribute('font-size')) * t.ownerSVGElement.getScreenCTM().a)"""
DATE_BOXES = """() => [...document.querySelectorAll('svg.chart')].map(svg =>
    [...svg.querySelectorAll('text.x-label')].map(t => {
        const r = t.getBoundingClientRect(); return [r.left, r.right]; }))"""


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("days", [(), (1,), (40, 7, 1)])
def test_chart_text_is_readable_and_dates_apart(
    index: Index, width: int, days: tuple[int, ...]
) -> None:
    now = today()
    with index.db.write() as s:
        for ago in days:
            s.add(SecuritySnapshot(day=now - dt.timedelta(days=ago), **dict.fromkeys(FIGURES, 3)))
    with index.live() as url, chromium() as browser:
        page = watched_page(browser, width=width).page
        page.goto(f"{url}/stats/")
        sizes = page.evaluate(TEXT_SIZES)
        assert sizes and min(sizes) >= 11, sizes
        for labels in page.evaluate(DATE_BOXES):
            assert len(labels) == min(len(days) + 1, 2)
            for (_, right), (left, _) in itertools.pairwise(labels):
                assert right + 8 <= left, labels
        # The range selector: one row of joined buttons, not a bulleted list.
        links = page.locator('nav[aria-label="Chart range"] a')
        expect(links).to_have_count(3)
        tops = {round(box["y"]) for box in (links.nth(i).bounding_box() for i in range(3)) if box}
        assert len(tops) == 1
        assert page.locator('nav[aria-label="Chart range"] li').count() == 0
        current = page.locator('nav[aria-label="Chart range"] [aria-current=page]')
        background = current.evaluate("e => getComputedStyle(e).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
