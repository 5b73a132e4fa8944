"""Time the ``critical-projects`` job on a real-sized catalog, on PostgreSQL.

Loads the ~886k real PyPI project names (``../shared/corpus/project-names.txt.gz``) as projects,
with 181 days of synthetic, heavy-tailed daily download counts: the project of (random) rank r
gets a mean of ``C / r^1.1`` downloads a day (Zipf-like; C = 50,000 by default). Projects with a
mean of at least one download a day have a row every day; rarer ones have rows on a matching
number of random days. The window totals are set up as the daily job would have left them
yesterday, so the timed run does what a real daily run does: roll the window one day (subtract
the day that left it), rank the projects, mark the newly critical ones and record their events.

Three runs are timed: the first (it rolls the window one day and designates the whole top 1%,
~8,900 projects, with an event and a notification event each), a second run the same day
(nothing to do), and the next day's run (rolls another day off, ranks, marks). The target is
<= 10 s for each.

Usage (from the repository root; starts a throwaway PostgreSQL unless STOCKADE_TEST_PG_URL):

    .venv/bin/python bench/critical_job.py [--names PATH] [--scale C] [--days 181]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gzip
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from packaging.utils import canonicalize_name  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from stockade import catalogue  # noqa: E402, F401  (every model mapped, as in the app and the CLI)
from stockade.config import load_settings  # noqa: E402
from stockade.db import Database  # noqa: E402
from stockade.db.migrate import upgrade  # noqa: E402
from stockade.index.models import Project  # noqa: E402
from stockade.jobs.interface import JobContext  # noqa: E402
from stockade.mail import mailer_from_settings  # noqa: E402
from stockade.stats.critical import CRITICAL_PROJECTS_JOB, designate, notify  # noqa: E402
from stockade.stats.models import DownloadCount  # noqa: E402
from support.servers import start_postgres  # noqa: E402

NAMES = ROOT.parent / "shared" / "corpus" / "project-names.txt.gz"


def load_projects(db: Database, names_file: Path) -> int:
    """COPY every distinct normalized name into ``projects``; returns how many."""
    seen: dict[str, str] = {}
    with gzip.open(names_file, "rt", encoding="utf-8") as fh:
        for line in fh:
            name = line.strip()
            if name:
                seen.setdefault(canonicalize_name(name), name)
    buf = io.StringIO()
    now = dt.datetime.now(dt.UTC).isoformat()
    for normalized, name in seen.items():
        buf.write(f"{name}\t{normalized}\t{normalized}\t{now}\t0\tactive\t0\n")
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        copy_sql = (
            "COPY projects (name, normalized_name, ultranormalized_name, created_at, "
            "last_serial, status, total_size) FROM STDIN"
        )
        with cur.copy(copy_sql) as copy:  # type: ignore[attr-defined]
            copy.write(buf.getvalue())
        raw.commit()
    finally:
        raw.close()
    return len(seen)


def load_counts(db: Database, scale: float, days: int, today: dt.date) -> int:
    """Heavy-tailed daily counts for every project, generated inside PostgreSQL."""
    first = today - dt.timedelta(days=days - 1)
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE download_counts DROP CONSTRAINT pk_download_counts"))
        conn.execute(text("DROP INDEX ix_download_counts_day"))
        conn.execute(text("SELECT setseed(0.42)"))
        conn.execute(
            text(
                "CREATE TEMP TABLE ranked AS SELECT id, "
                ":c / power(row_number() OVER (ORDER BY random()), 1.1) AS lam FROM projects"
            ),
            {"c": scale},
        )
        # Every day for the popular; k random days (k ~ days x mean) for the rest.
        conn.execute(
            text(
                "INSERT INTO download_counts (project_id, packagetype, day, count) "
                "SELECT id, 'bdist_wheel', CAST(:first AS date) + d, "
                "greatest(1, round(lam * (0.5 + random())))::bigint "
                "FROM ranked, generate_series(0, :days - 1) AS d WHERE lam >= 1"
            ),
            {"first": first, "days": days},
        )
        conn.execute(
            text(
                "INSERT INTO download_counts (project_id, packagetype, day, count) "
                "SELECT id, 'sdist', CAST(:first AS date) + day, count(*) FROM ("
                "  SELECT id, floor(random() * :days)::int AS day FROM ranked, "
                "  generate_series(1, floor(lam * :days + random())::int) WHERE lam < 1"
                ") AS hits GROUP BY id, day"
            ),
            {"first": first, "days": days},
        )
        conn.execute(
            text(
                "ALTER TABLE download_counts ADD CONSTRAINT pk_download_counts "
                "PRIMARY KEY (project_id, packagetype, day)"
            )
        )
        conn.execute(text("CREATE INDEX ix_download_counts_day ON download_counts (day)"))
        # The state yesterday's run left: window totals from yesterday's window start.
        start = today - dt.timedelta(days=days - 1)  # the oldest loaded day, still counted
        conn.execute(
            text("INSERT INTO download_window (id, start_day) VALUES (1, :s)"), {"s": start}
        )
        conn.execute(
            text(
                "INSERT INTO download_totals (project_id, window_total) "
                "SELECT project_id, sum(count) FROM download_counts WHERE day >= :s "
                "GROUP BY project_id"
            ),
            {"s": start},
        )
        conn.execute(text("ANALYZE"))
        rows = conn.execute(select(func.count()).select_from(DownloadCount)).scalar_one()
    return int(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=Path, default=NAMES)
    parser.add_argument("--scale", type=float, default=50_000.0)
    parser.add_argument("--days", type=int, default=181, help="days of counts (window + 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-critical-") as tmp:
        pg = start_postgres(Path(tmp) / "pg")
        try:
            url = pg.create_database("bench_critical")
            db = Database(url)
            upgrade(db)
            settings = load_settings(
                Path(tmp) / "data", environ={}, overrides={"database_url": url, "scheduler": False}
            )
            today = dt.datetime.now(dt.UTC).date()
            t0 = time.perf_counter()
            projects = load_projects(db, args.names)
            t1 = time.perf_counter()
            rows = load_counts(db, args.scale, args.days, today)
            t2 = time.perf_counter()
            print(f"loaded {projects:,} projects in {t1 - t0:.1f} s")
            print(f"loaded {rows:,} daily count rows ({args.days} days) in {t2 - t1:.1f} s")
            ctx = JobContext(
                settings=dataclasses.replace(settings, critical_window_days=args.days - 1),
                db=db,
                mailer=mailer_from_settings(settings),
            )
            for label in ("first run (designates the top 1%)", "second run (steady state)"):
                start = time.perf_counter()
                result = CRITICAL_PROJECTS_JOB.run(ctx)
                took = time.perf_counter() - start
                print(f"{label}: {took:.2f} s - {result.summary}")
            # The next day's run: rolls another day out of the window, ranks, marks.
            start = time.perf_counter()
            with db.write() as session:
                marked = designate(session, ctx.settings, now=today + dt.timedelta(days=1))
                told = notify(session, ctx.settings)
            took = time.perf_counter() - start
            print(
                f"next day's run: {took:.2f} s - {len(marked)} newly critical, {len(told)} mail(s)"
            )
            with db.read() as session:
                critical = session.scalar(
                    select(func.count(Project.id)).where(Project.critical.is_(True))
                )
            print(f"critical projects: {critical:,}")
            db.dispose()
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
