"""The ``tuf-publish`` job and each worker's batch loop.

The job runs one batch (:func:`stockade.tuf.publish.publish`) under the job lease, so one
worker signs at a time. The scheduler runs it hourly, which re-signs whatever nears expiry;
the batch loop in every worker checks the journal every ``tuf_batch_interval`` seconds (one
indexed query) and, when it moved, runs a batch that holds the same lease's row locked for its
one transaction (no run recorded: there may be one a second).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.tuf.publish import SignerBusy, pending, publish
from stockade.tuf.repository import TUF_LEASE

__all__ = ["TUF_JOB", "TufBatcher"]

log = logging.getLogger(__name__)


def _run(ctx: JobContext) -> JobResult:
    result = publish(ctx.db, ctx.settings)
    if result is None:
        return JobResult(summary="TUF is off (see `stockade tuf init`)")
    return JobResult(summary=result.summary(), changes=[*result.warnings, *result.bins])


TUF_JOB = Job(
    name=TUF_LEASE,
    description="Sign TUF metadata for changed projects, and re-sign roles nearing expiry",
    interval=dt.timedelta(hours=1),
    run=_run,
)


class TufBatcher:
    """A daemon thread that runs the job whenever the journal moved, at most once a batch
    interval."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.interval = ctx.settings.tuf_batch_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once); a zero interval leaves batching to the hourly job."""
        if self._thread is None and self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="stockade-tuf", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, waiting a little for a batch under way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> bool:
        """One batch if the journal moved and no other worker is signing; whether it ran."""
        with self.ctx.db.read() as session:
            if not pending(session):
                return False
        try:
            publish(self.ctx.db, self.ctx.settings, lease=TUF_JOB.name)
        except SignerBusy:
            return False
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("TUF batch failed")
