"""Download counts: the daily table, the rolling window totals, and recent figures.

Storage, designed so that ranking projects never scans days x projects rows:

- ``download_counts`` holds one row per (project, package type, day): the record, read for
  "last day / week / month" figures and to roll the window.
- ``download_totals`` holds one row per project: its downloads from ``download_window.start_day``
  on. Every write of counts (the in-process counter's flush, ``stockade stats ingest``) adds to
  both tables in one transaction, through :func:`add_counts`; counts for days before the window
  start only go to the daily table.
- :func:`roll_window` moves the start to ``today - window + 1``: it subtracts the days that left
  the window (one day's rows per daily run) and adds back days that re-entered it when the
  window setting grew. The critical-projects job calls it before ranking; ranking is then an
  ``ORDER BY window_total DESC LIMIT k`` on an index over at most one row per project.

Writers lock the window row first (``SELECT … FOR UPDATE`` on PostgreSQL, the database write
lock on SQLite), so a roll and a concurrent ingest never disagree about which days are in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from stockade.stats.models import DownloadCount, DownloadTotal, DownloadWindow

__all__ = [
    "CountKey",
    "RecentDownloads",
    "add_counts",
    "recent_downloads",
    "roll_window",
    "today",
    "window_start",
]

# (project id, package type, day)
CountKey = tuple[int, str, dt.date]


def today() -> dt.date:
    """The current day, UTC."""
    return dt.datetime.now(dt.UTC).date()


def _insert(session: Session, model: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def _locked_window(session: Session) -> DownloadWindow | None:
    return session.scalar(select(DownloadWindow).where(DownloadWindow.id == 1).with_for_update())


def window_start(session: Session) -> dt.date | None:
    """The first day the window totals cover; None before any roll (then: every day)."""
    return session.scalar(select(DownloadWindow.start_day).where(DownloadWindow.id == 1))


def add_counts(session: Session, counts: Mapping[CountKey, int]) -> int:
    """Add downloads to the daily table and, for days in the window, to the totals: one upsert
    per key. Returns how many downloads were added."""
    counts = {key: n for key, n in counts.items() if n > 0}
    if not counts:
        return 0
    window = _locked_window(session)
    start = window.start_day if window is not None else None
    daily = _insert(session, DownloadCount)
    rows = [
        {"project_id": p, "packagetype": t, "day": d, "count": n}
        for (p, t, d), n in sorted(counts.items())
    ]
    for chunk in _chunks(rows, 500):
        stmt = daily.values(chunk)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["project_id", "packagetype", "day"],
                set_={"count": DownloadCount.count + stmt.excluded.count},
            )
        )
    per_project: dict[int, int] = defaultdict(int)
    for (project_id, _type, day), n in counts.items():
        if start is None or day >= start:
            per_project[project_id] += n
    _add_totals(session, per_project)
    return sum(counts.values())


def _add_totals(session: Session, per_project: Mapping[int, int]) -> None:
    totals = _insert(session, DownloadTotal)
    rows = [{"project_id": p, "window_total": n} for p, n in sorted(per_project.items()) if n]
    for chunk in _chunks(rows, 500):
        stmt = totals.values(chunk)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["project_id"],
                set_={"window_total": DownloadTotal.window_total + stmt.excluded.window_total},
            )
        )


def _chunks(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def roll_window(session: Session, days: int, *, now: dt.date | None = None) -> dt.date:
    """Make the totals cover the last ``days`` days up to ``now``; returns the new start."""
    new_start = (now or today()) - dt.timedelta(days=days - 1)
    window = _locked_window(session)
    if window is None:
        # The first roll: totals so far hold every day; take out those before the window.
        session.add(DownloadWindow(id=1, start_day=new_start))
        session.flush()
        _shift(session, dt.date.min, new_start, sign=-1)
        return new_start
    old_start = window.start_day
    if new_start > old_start:
        _shift(session, old_start, new_start, sign=-1)
    elif new_start < old_start:
        _shift(session, new_start, old_start, sign=1)
    window.start_day = new_start
    return new_start


def _shift(session: Session, since: dt.date, until: dt.date, *, sign: int) -> None:
    """Subtract (or add) the daily counts of days in [since, until) from the totals."""
    gone = (
        select(DownloadCount.project_id, func.sum(DownloadCount.count).label("n"))
        .where(DownloadCount.day >= since, DownloadCount.day < until)
        .group_by(DownloadCount.project_id)
    )
    per_project = {row.project_id: int(row.n) for row in session.execute(gone)}
    if not per_project:
        return
    if sign > 0:
        _add_totals(session, per_project)
        return
    if session.get_bind().dialect.name == "postgresql":
        sub = gone.subquery()
        session.execute(
            update(DownloadTotal)
            .where(DownloadTotal.project_id == sub.c.project_id)
            .values(window_total=DownloadTotal.window_total - sub.c.n)
        )
        return
    for project_id, n in per_project.items():
        session.execute(
            update(DownloadTotal)
            .where(DownloadTotal.project_id == project_id)
            .values(window_total=DownloadTotal.window_total - n)
        )


@dataclass(frozen=True)
class RecentDownloads:
    """Downloads of a project over the last 1, 7 and 30 days (today included), PyPI's keys."""

    last_day: int
    last_week: int
    last_month: int

    def as_dict(self) -> dict[str, int]:
        return {
            "last_day": self.last_day,
            "last_week": self.last_week,
            "last_month": self.last_month,
        }


def recent_downloads(
    session: Session, project_id: int, *, now: dt.date | None = None
) -> RecentDownloads:
    """The project's recent downloads, from the daily table (at most 30 x types rows)."""
    end = now or today()
    rows = session.execute(
        select(DownloadCount.day, func.sum(DownloadCount.count))
        .where(
            DownloadCount.project_id == project_id,
            DownloadCount.day > end - dt.timedelta(days=30),
            DownloadCount.day <= end,
        )
        .group_by(DownloadCount.day)
    ).all()

    def since(days: int) -> int:
        first = end - dt.timedelta(days=days - 1)
        return sum(int(n) for day, n in rows if day >= first)

    return RecentDownloads(last_day=since(1), last_week=since(7), last_month=since(30))
