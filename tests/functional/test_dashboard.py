"""The public security dashboard: current figures, the daily snapshot job (idempotent per day),
the charts' series per range, and the JSON and CSV holding the same data."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re

import pyotp
import pytest
from sqlalchemy import select

from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import enable_totp
from stockade.accounts.twofactor.models import WebAuthnKey
from stockade.events.services import CLI
from stockade.index.models import File, Project
from stockade.index.project_settings import pin_critical
from stockade.index.provenance import FileProvenance
from stockade.index.roles import add_role
from stockade.jobs.interface import JobContext
from stockade.mail import mailer_from_settings
from stockade.oidc.models import Publisher
from stockade.stats.counts import today
from stockade.stats.models import SecuritySnapshot
from stockade.stats.security import FIGURES, SECURITY_SNAPSHOT_JOB
from support.builders import wheel_bytes, wheel_name
from support.index import Index

TODAY = today()
PAST_DAYS = (400, 200, 60, 10, 1)
EXPECTED = {
    "users": 3,
    "users_2fa": 2,
    "users_totp": 1,
    "users_webauthn": 1,
    "critical_projects": 1,
    "critical_maintainers": 2,
    "critical_maintainers_2fa": 1,
    "projects_requiring_2fa": 1,
    "uploads_trusted_publishing_pct": 25.0,
    "uploads_attested_pct": 50.0,
    "held_files": 0,
    "held_files_confirmed": 0,
}


def user(index: Index, name: str) -> User:
    index.user(name)
    with index.db.read() as s:
        found = s.scalar(select(User).where(User.username == name))
        assert found is not None
        return found


def snapshot_job(index: Index) -> list[str]:
    ctx = JobContext(
        settings=index.settings, db=index.db, mailer=mailer_from_settings(index.settings)
    )
    return SECURITY_SNAPSHOT_JOB.run(ctx).changes


@pytest.fixture
def world(index: Index) -> Index:
    for project, version in (("demo", "1.0"), ("demo", "1.1"), ("opt", "1.0"), ("plain", "1.0")):
        response = index.upload(wheel_bytes(project, version), wheel_name(project, version))
        assert response.status_code == 200, response.text
    carol, bob, dave = user(index, "carol"), user(index, "bob"), user(index, "dave")
    with index.db.write() as s:
        alice = s.scalar(select(User).where(User.username == "alice"))
        assert alice is not None
        secret = pyotp.random_base32()
        enable_totp(s, alice, secret, pyotp.TOTP(secret).now(), origin=CLI)
        s.add(WebAuthnKey(user_id=bob.id, label="key", credential_id="cred", public_key=b"k"))
        # A disabled account counts for nothing.
        dave_row, carol_row = s.get(User, dave.id), s.get(User, carol.id)
        assert dave_row is not None and carol_row is not None
        dave_row.is_active = False
        demo = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        opt = s.scalar(select(Project).where(Project.normalized_name == "opt"))
        assert demo is not None and opt is not None
        add_role(s, project=demo, user=carol_row, role_name="Maintainer", origin=CLI)
        pin_critical(s, project=demo, origin=CLI)
        opt.require_2fa = True
        files = list(s.scalars(select(File).order_by(File.id)))
        publisher = Publisher(project_id=demo.id, provider="github", identity="acme/demo")
        s.add(publisher)
        s.flush()
        files[0].publisher_id = publisher.id
        s.add_all(FileProvenance(file_id=f.id, provenance={"version": 1}) for f in files[:2])
        for n, days in enumerate(PAST_DAYS):
            s.add(
                SecuritySnapshot(
                    day=TODAY - dt.timedelta(days=days),
                    **{name: n + i for i, name in enumerate(FIGURES)},
                )
            )
    return index


def test_current_figures_and_the_daily_snapshot(world: Index) -> None:
    doc = world.client.get("/stats/security.json").json()
    assert set(doc) == {"generated", "current", "history"}
    assert doc["current"] == EXPECTED
    assert dt.datetime.fromisoformat(doc["generated"]).tzinfo is not None
    assert [h["date"] for h in doc["history"]] == [
        (TODAY - dt.timedelta(days=d)).isoformat() for d in PAST_DAYS
    ]
    assert snapshot_job(world) == [f"snapshot {TODAY.isoformat()}"]
    assert snapshot_job(world) == []  # once a day
    doc = world.client.get("/stats/security.json").json()
    assert doc["history"][-1] == {"date": TODAY.isoformat(), **EXPECTED}
    assert len(doc["history"]) == len(PAST_DAYS) + 1


def test_json_and_csv_hold_the_same_data(world: Index) -> None:
    snapshot_job(world)
    for range_ in ("3m", "1y", "all"):
        doc = world.client.get(f"/stats/security.json?range={range_}").json()
        response = world.client.get(f"/stats/security.csv?range={range_}")
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert list(rows[0]) == ["date", *FIGURES]
        assert [
            {
                k: (float(v) if k.endswith("_pct") else v if k == "date" else int(v))
                for k, v in r.items()
            }
            for r in rows
        ] == doc["history"]
    days = {"3m": 4, "1y": 5, "all": 6}
    for range_, count in days.items():
        assert (
            len(world.client.get(f"/stats/security.json?range={range_}").json()["history"]) == count
        )


def test_dashboard_page_shows_figures_and_charts(world: Index) -> None:
    snapshot_job(world)
    page = world.client.get("/stats/?range=1y")
    assert page.status_code == 200
    assert "<script" not in page.text
    for name, value in EXPECTED.items():
        shown = f"{value}%" if name.endswith("_pct") else str(value)
        assert f'<p class="value" data-figure="{name}">{shown}</p>' in page.text
        chart = re.search(rf'<svg id="chart-{name}".*?</svg>', page.text, re.S)
        assert chart is not None
        dates = re.findall(r'data-date="([\d-]+)"', chart.group(0))
        assert dates == [(TODAY - dt.timedelta(days=d)).isoformat() for d in (200, 60, 10, 1, 0)]
    # The snapshot values, in order, in the users chart.
    users = re.search(r'<svg id="chart-users".*?</svg>', page.text, re.S)
    assert users is not None
    assert re.findall(r'data-value="([\d.]+)"', users.group(0)) == ["1", "2", "3", "4", "3"]
    assert "50.0% of the maintainers of critical projects have two-factor" in page.text
    assert 'href="/stats/?range=1y" aria-current="page"' in page.text
    three = world.client.get("/stats/").text
    assert three.count('class="point"') == 4 * len(FIGURES)
    assert world.client.get("/stats/?range=all").text.count('class="point"') == 6 * len(FIGURES)


def test_todays_point_is_the_current_figure(world: Index) -> None:
    """A snapshot taken this morning does not freeze today's point: accounts made since count."""
    snapshot_job(world)
    user(world, "erin")
    page = world.client.get("/stats/").text
    users = re.search(r'<svg id="chart-users".*?</svg>', page, re.S)
    assert users is not None
    last = re.findall(r'data-date="([\d-]+)" data-value="([\d.]+)"', users.group(0))[-1]
    assert last == (TODAY.isoformat(), "4")
    assert '<p class="value" data-figure="users">4</p>' in page
    # The JSON and CSV keep the stored snapshot as it was taken.
    doc = world.client.get("/stats/security.json").json()
    assert doc["history"][-1]["users"] == 3 and doc["current"]["users"] == 4


def test_range_selector_is_a_segmented_control(world: Index) -> None:
    page = world.client.get("/stats/?range=all").text
    nav = re.search(r'<nav aria-label="Chart range" class="segmented">(.*?)</nav>', page, re.S)
    assert nav is not None
    assert "<ul" not in nav.group(1) and "<li" not in nav.group(1)
    links = re.findall(r'<a href="/stats/\?range=(\w+)"( aria-current="page")?>', nav.group(1))
    assert links == [("3m", ""), ("1y", ""), ("all", ' aria-current="page"')]


def test_bad_range_and_empty_history(index: Index) -> None:
    response = index.client.get("/stats/?range=5y")
    assert response.status_code == 400
    assert response.text == "Unknown range '5y': use one of 3m, 1y, all.\n"
    assert index.client.get("/stats/security.json?range=week").status_code == 400
    page = index.client.get("/stats/").text
    # No snapshot yet: each chart still shows today's figure, as its only point.
    assert page.count('class="point"') == len(FIGURES)
    assert f'data-date="{TODAY.isoformat()}" data-value="0"' in page
    doc = index.client.get("/stats/security.json").json()
    assert doc["history"] == []
    assert doc["current"]["uploads_attested_pct"] == 0.0


def test_snapshot_job_on_the_settings_day(index: Index) -> None:
    settings = dataclasses.replace(index.settings)
    ctx = JobContext(settings=settings, db=index.db, mailer=mailer_from_settings(settings))
    assert SECURITY_SNAPSHOT_JOB.run(ctx).summary == f"snapshot of {TODAY.isoformat()} taken"
    with index.db.read() as s:
        [snap] = s.scalars(select(SecuritySnapshot)).all()
        assert snap.users == 0 and snap.day == TODAY
