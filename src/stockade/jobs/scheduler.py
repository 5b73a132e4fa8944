"""The in-process scheduler: a thread in each web worker that runs due jobs.

Every worker runs one; the job lock (see runner) lets only one of them run a given job, and
the record of runs tells the others it is not due any more.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Iterable

from sqlalchemy import func, select

from stockade.db.base import utcnow
from stockade.jobs.interface import Job, JobContext
from stockade.jobs.models import JobRun
from stockade.jobs.runner import JobBusy, holder_name, run_job

__all__ = ["RETRY_AFTER_FAILURE", "Scheduler", "due_jobs"]

log = logging.getLogger(__name__)

# A failed run is retried after this long, not at once (the outside world may be down).
RETRY_AFTER_FAILURE = dt.timedelta(minutes=30)


def due_jobs(ctx: JobContext, jobs: list[Job], *, now: dt.datetime | None = None) -> list[Job]:
    """The jobs whose last good run is older than their interval and that did not start (or
    fail) within the retry delay."""
    now = now or utcnow()
    due = []
    with ctx.db.read() as session:
        for job in jobs:
            last_ok = session.scalar(
                select(func.max(JobRun.finished_at)).where(
                    JobRun.name == job.name, JobRun.status == "ok"
                )
            )
            last_start = session.scalar(
                select(func.max(JobRun.started_at)).where(JobRun.name == job.name)
            )
            if last_ok is not None and last_ok > now - job.interval:
                continue
            if last_start is not None and last_start > now - RETRY_AFTER_FAILURE:
                continue
            due.append(job)
    return due


class Scheduler:
    """Runs the due ones of ``jobs`` every ``tick`` seconds in a daemon thread until stopped."""

    def __init__(self, ctx: JobContext, jobs: Iterable[Job], *, tick: float = 60.0) -> None:
        self.ctx = ctx
        self.jobs = list(jobs)
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="stockade-scheduler", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait a little for a running job to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_due(self) -> list[str]:
        """Run every due job once; returns the names of those that ran."""
        ran = []
        for job in due_jobs(self.ctx, self.jobs):
            if self._stop.is_set():
                break
            try:
                record = run_job(self.ctx, job, holder=holder_name("scheduler"))
            except JobBusy:
                continue
            except Exception:
                log.exception("job %s failed", job.name)
                continue
            log.info("job %s: %s", job.name, record.result.summary)
            ran.append(job.name)
        return ran

    def _loop(self) -> None:
        # Workers started together spread out instead of all asking for the lock at once.
        if self._stop.wait(random.uniform(1.0, 10.0)):  # noqa: S311  (jitter, not a secret)
            return
        while not self._stop.is_set():
            try:
                self.run_due()
            except Exception:
                log.exception("scheduler tick failed")
            self._stop.wait(self.tick)
