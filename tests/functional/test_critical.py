"""The critical-projects job: the top 1% by downloads over the window on a crafted distribution,
stockade's own dependencies, pins, stickiness (later drops in downloads, delete + re-create),
one event per newly critical project and one mail per maintainer, once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from email.message import EmailMessage
from typing import Any

import pyotp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from stockade.accounts.models import User, UserEmail
from stockade.accounts.twofactor.factors import enable_totp
from stockade.config import Settings
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import Project
from stockade.index.project_settings import pin_critical
from stockade.index.roles import add_role
from stockade.jobs.interface import JobContext
from stockade.lifecycle.deletion import delete_project
from stockade.mail import mailer_from_settings
from stockade.stats.counts import add_counts, roll_window, today
from stockade.stats.critical import CRITICAL_PROJECTS_JOB, designate, top_count
from stockade.stats.models import DownloadTotal
from support.builders import wheel_bytes, wheel_name
from support.index import Index, run_cli
from support.smtp import read_outbox

TODAY = today()


def job(index: Index, **changes: Any) -> list[str]:
    settings = dataclasses.replace(index.settings, **changes)
    ctx = JobContext(settings=settings, db=index.db, mailer=mailer_from_settings(settings))
    return CRITICAL_PROJECTS_JOB.run(ctx).changes


def outbox(index: Index) -> list[EmailMessage]:
    return read_outbox(index.settings.data_dir / "outbox")


def make_projects(index: Index, count: int) -> dict[str, int]:
    """Projects p000 … p<count-1>: name -> id."""
    with index.db.write() as s:
        s.add_all(Project(name=f"p{i:03d}", normalized_name=f"p{i:03d}") for i in range(count))
    with index.db.read() as s:
        return {p.name: p.id for p in s.scalars(select(Project))}


def downloads(index: Index, ids: dict[str, int], counts: dict[str, int], days_ago: int = 1) -> None:
    day = TODAY - dt.timedelta(days=days_ago)
    with index.db.write() as s:
        add_counts(s, {(ids[name], "bdist_wheel", day): n for name, n in counts.items()})


def total(s: Session, project_id: int) -> int:
    row = s.get(DownloadTotal, project_id)
    assert row is not None
    return row.window_total


def critical(index: Index) -> set[str]:
    with index.db.read() as s:
        return set(s.scalars(select(Project.name).where(Project.critical.is_(True))))


def events(index: Index, tag: str) -> list[Event]:
    with index.db.read() as s:
        return list(s.scalars(select(Event).where(Event.tag == tag).order_by(Event.id)))


def give_role(index: Index, project: str, username: str, role: str) -> None:
    index.user(username)
    with index.db.write() as s:
        p = s.scalar(select(Project).where(Project.name == project))
        u = s.scalar(select(User).where(User.username == username))
        assert p is not None and u is not None
        add_role(s, project=p, user=u, role_name=role, origin=CLI)


def test_top_count_rounds_up() -> None:
    assert top_count(1, 0) == 0
    assert top_count(1, 1) == 1
    assert top_count(1, 100) == 1
    assert top_count(1, 101) == 2
    assert top_count(1, 250) == 3
    assert top_count(0.5, 1000) == 5


def test_top_one_percent_on_a_crafted_distribution(index: Index) -> None:
    ids = make_projects(index, 250)  # 1% of 250 -> the top 3
    heavy = {"p010": 90_000, "p200": 50_000, "p033": 20_000}
    tail = {f"p{i:03d}": 1000 - 3 * i for i in range(40, 100)}  # all below 1,000
    downloads(index, ids, {**heavy, **tail})
    # 19,000 per day over 10 days inside the window: 190,000 puts p100 on top...
    for ago in range(1, 11):
        downloads(index, ids, {"p100": 19_000}, days_ago=ago)
    # ... and huge counts from before the window count for nothing.
    downloads(index, ids, {"p240": 10_000_000}, days_ago=200)
    job(index)
    assert critical(index) == {"p100", "p010", "p200"}
    marked = events(index, "project:critical")
    assert sorted((e.details["name"], e.details["reason"]) for e in marked) == [
        ("p010", "downloads"),
        ("p100", "downloads"),
        ("p200", "downloads"),
    ]
    # The window total of p240 is only its in-window downloads (none).
    with index.db.read() as s:
        assert total(s, ids["p240"]) == 0
        assert total(s, ids["p100"]) == 190_000

    # Idempotent: nothing new on a second run.
    assert job(index) == []
    assert len(events(index, "project:critical")) == 3

    # Sticky: p033 overtakes everyone later; the first three stay critical.
    downloads(index, ids, {"p033": 5_000_000}, days_ago=0)
    job(index)
    assert critical(index) == {"p100", "p010", "p200", "p033"}
    # A window of today and yesterday drops p100's older downloads; it stays critical.
    changes = job(index, critical_window_days=2, critical_percent=0.4)
    assert changes == []
    with index.db.read() as s:
        assert total(s, ids["p100"]) == 19_000
    assert critical(index) == {"p100", "p010", "p200", "p033"}
    # Growing the window again adds the days back.
    job(index)
    with index.db.read() as s:
        assert total(s, ids["p100"]) == 190_000


def test_at_least_one_project_once_any_has_downloads(index: Index) -> None:
    ids = make_projects(index, 5)
    job(index)
    assert critical(index) == set()
    downloads(index, ids, {"p003": 1})
    job(index)
    assert critical(index) == {"p003"}


def test_window_roll_subtracts_only_days_that_left(index: Index) -> None:
    ids = make_projects(index, 2)
    downloads(index, ids, {"p000": 5}, days_ago=10)
    downloads(index, ids, {"p000": 7}, days_ago=3)
    with index.db.write() as s:
        roll_window(s, 30)
    with index.db.write() as s:
        roll_window(s, 5)  # day -10 leaves
        # Counts for a day before the window go to the daily table only.
        add_counts(s, {(ids["p000"], "sdist", TODAY - dt.timedelta(days=20)): 100})
        add_counts(s, {(ids["p000"], "sdist", TODAY): 1})
    with index.db.read() as s:
        assert total(s, ids["p000"]) == 8
    with index.db.write() as s:
        roll_window(s, 30)  # days -29 … -5 come back: 5 + 100
    with index.db.read() as s:
        assert total(s, ids["p000"]) == 113


def test_dependencies_of_stockade_are_critical_when_hosted(index: Index) -> None:
    make_projects(index, 3)
    with index.db.write() as s:
        s.add(Project(name="SQLAlchemy", normalized_name="sqlalchemy"))
        s.add(Project(name="not-a-dependency", normalized_name="not-a-dependency"))
    job(index)
    assert critical(index) == {"SQLAlchemy"}
    [event] = events(index, "project:critical")
    assert event.details == {"name": "SQLAlchemy", "reason": "dependency"}
    # An explicit set, as the function takes it.
    with index.db.write() as s:
        marked = designate(s, index.settings, dependencies=frozenset({"not-a-dependency"}))
        assert [(p.name, r) for p, r in marked] == [("not-a-dependency", "dependency")]


def test_maintainers_are_mailed_once_and_pins_count(index: Index) -> None:
    ids = make_projects(index, 3)
    give_role(index, "p001", "olga", "Owner")
    give_role(index, "p001", "mark", "Maintainer")
    give_role(index, "p002", "olga", "Owner")
    # An account whose only address is unverified gets no mail.
    give_role(index, "p001", "ulla", "Maintainer")
    with index.db.write() as s:
        s.execute(
            update(UserEmail).where(UserEmail.email == "ulla@example.test").values(verified=False)
        )
    downloads(index, ids, {"p001": 10})
    settings: Settings = dataclasses.replace(
        index.settings,
        base_url="https://pypi.example.test",
        two_factor_enforce_after=(TODAY + dt.timedelta(days=30)).isoformat(),
    )
    ctx = JobContext(settings=settings, db=index.db, mailer=mailer_from_settings(settings))
    CRITICAL_PROJECTS_JOB.run(ctx)
    mail = outbox(index)
    assert sorted(str(m["To"]) for m in mail) == ["mark@example.test", "olga@example.test"]
    body = mail[0].get_content()
    assert "p001" in str(mail[0]["Subject"])
    assert "https://pypi.example.test/manage/account/two-factor/" in body
    assert f"From {(TODAY + dt.timedelta(days=30)).isoformat()} on" in body
    [told] = events(index, "project:critical:notified")
    assert told.details["recipients"] == "mark,olga"

    # Once: running again sends nothing.
    CRITICAL_PROJECTS_JOB.run(ctx)
    assert len(outbox(index)) == 2

    # A pinned project (the admin's choice) is critical; its maintainers are told on the next run.
    with index.db.write() as s:
        project = s.get(Project, ids["p002"])
        assert project is not None
        pin_critical(s, project=project, origin=CLI)
    CRITICAL_PROJECTS_JOB.run(ctx)
    CRITICAL_PROJECTS_JOB.run(ctx)
    mail = outbox(index)
    assert [str(m["To"]) for m in mail[2:]] == ["olga@example.test"]
    assert "p002" in str(mail[2]["Subject"])
    # The pin's own event, and no second designation for the pinned project.
    reasons = sorted(e.details["reason"] for e in events(index, "project:critical"))
    assert reasons == ["downloads", "pinned"]


def test_sticky_across_delete_and_recreate(index: Index) -> None:
    index.user("alice")
    response = index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"))
    assert response.status_code == 200, response.text
    with index.db.read() as s:
        demo_id = s.scalar(select(Project.id).where(Project.normalized_name == "demo"))
        assert demo_id is not None
    downloads(index, {"demo": demo_id}, {"demo": 50})
    job(index)
    assert critical(index) == {"demo"}
    with index.db.write() as s:
        project = s.get(Project, demo_id)
        assert project is not None
        delete_project(s, project, origin=CLI, actor_id=None, admin=True)
    # The former owner re-creates it by uploading: still critical, so 2FA first.
    response = index.upload(wheel_bytes("demo", "2.0"), wheel_name("demo", "2.0"))
    assert response.status_code == 403
    assert "'demo' is a critical project" in response.text
    with index.db.write() as s:
        alice = s.scalar(select(User).where(User.username == "alice"))
        assert alice is not None
        secret = pyotp.random_base32()
        enable_totp(s, alice, secret, pyotp.TOTP(secret).now(), origin=CLI)
    response = index.upload(wheel_bytes("demo", "2.0"), wheel_name("demo", "2.0"))
    assert response.status_code == 200, response.text
    with index.db.read() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None
        assert project.id == demo_id
        assert project.critical and project.deletion_id is None
        assert s.scalar(select(func.count(Project.id))) == 1
    assert job(index) == []
    assert len(events(index, "project:critical")) == 1
    assert len([m for m in outbox(index) if "critical" in str(m["Subject"])]) == 1


def test_job_through_the_cli(index: Index) -> None:
    ids = make_projects(index, 2)
    downloads(index, ids, {"p001": 3})
    result = run_cli(index, "jobs", "run", "critical-projects")
    assert result.returncode == 0, result.stderr
    assert "p001: critical (downloads)" in result.stdout
    assert "1 project(s) newly critical" in result.stderr
    shown = run_cli(index, "project", "show", "p001", "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"critical": true' in shown.stdout
