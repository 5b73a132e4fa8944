"""Running a job once: take its lock, record the run, release the lock.

The lock is a row per job in ``job_locks`` taken by compare-and-set: an UPDATE that matches
only when nobody holds an unexpired lease. It behaves the same on SQLite (whose write
transactions are serialised) and PostgreSQL (where the UPDATE's row lock makes the second
worker wait and then see the lease taken), so any number of workers and cron entries can
start the same job: one runs it, the others get JobBusy. A worker that dies keeps the lease
only until it expires.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from stockade.db import Database
from stockade.db.base import utcnow
from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.jobs.models import JobLock, JobRun
from stockade.metrics import JOB_RUNS

__all__ = ["DEFAULT_LEASE", "JobBusy", "RunRecord", "holder_name", "last_runs", "run_job"]

# Longer than any job should take; a crashed worker's lock frees itself after this.
DEFAULT_LEASE = dt.timedelta(hours=1)


class JobBusy(Exception):
    """Another worker is running this job."""

    def __init__(self, name: str, holder: str | None) -> None:
        super().__init__(f"job {name!r} is already running ({holder or 'another worker'})")
        self.holder = holder


@dataclass(frozen=True)
class RunRecord:
    """A finished run."""

    run_id: int
    name: str
    status: str
    result: JobResult


def holder_name(role: str = "cli") -> str:
    """Who runs a job, for the record: host, process and role."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"[:100]


def _ensure_lock_row(db: Database, name: str) -> None:
    for _ in range(2):
        try:
            with db.write() as session:
                if session.get(JobLock, name) is None:
                    session.add(JobLock(name=name))
            return
        except IntegrityError:
            continue  # another worker created it at the same moment


def _acquire(db: Database, name: str, holder: str, lease: dt.timedelta) -> int:
    _ensure_lock_row(db, name)
    with db.write() as session:
        now = utcnow()
        run = JobRun(name=name, holder=holder, started_at=now, status="running")
        session.add(run)
        session.flush()
        taken = session.execute(
            update(JobLock)
            .where(
                JobLock.name == name,
                or_(JobLock.locked_until.is_(None), JobLock.locked_until < now),
            )
            .values(holder=holder, locked_until=now + lease, run_id=run.id)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
            current = session.scalar(select(JobLock.holder).where(JobLock.name == name))
            # Rolling back also drops the run row: a run that never started is not recorded.
            raise JobBusy(name, current)
        return run.id


def _finish(db: Database, name: str, run_id: int, status: str, summary: str) -> None:
    with db.write() as session:
        session.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(status=status, summary=summary, finished_at=utcnow())
        )
        session.execute(
            update(JobLock)
            .where(JobLock.name == name, JobLock.run_id == run_id)
            .values(holder=None, locked_until=None)
        )


def run_job(
    ctx: JobContext, job: Job, *, holder: str, lease: dt.timedelta = DEFAULT_LEASE
) -> RunRecord:
    """Run ``job`` once under its lock and record the run.

    Raises JobBusy when another worker holds the lock. When the job itself fails, the run is
    recorded as failed and the exception propagates.
    """
    run_id = _acquire(ctx.db, job.name, holder, lease)
    try:
        result = job.run(ctx)
    except BaseException as exc:
        _finish(ctx.db, job.name, run_id, "failed", f"{type(exc).__name__}: {exc}"[:2000])
        JOB_RUNS.labels(job.name, "failed").inc()
        raise
    JOB_RUNS.labels(job.name, "ok").inc()
    lines = [result.summary, *result.changes] if result.summary else list(result.changes)
    _finish(ctx.db, job.name, run_id, "ok", "\n".join(lines)[:100_000])
    return RunRecord(run_id, job.name, "ok", result)


def last_runs(db: Database, name: str, *, limit: int = 1) -> list[JobRun]:
    """The newest runs of a job (any status), newest first."""
    with db.read() as session:
        return list(
            session.scalars(
                select(JobRun).where(JobRun.name == name).order_by(JobRun.id.desc()).limit(limit)
            )
        )
