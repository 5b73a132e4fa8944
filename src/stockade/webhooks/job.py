"""The ``webhooks`` job: the event log read into deliveries, and the due deliveries sent."""

from __future__ import annotations

import datetime as dt

from stockade.db import utcnow
from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.webhooks.services import deliver_due, enqueue

__all__ = ["WEBHOOKS_JOB", "run_webhooks"]


def run_webhooks(ctx: JobContext) -> JobResult:
    now = utcnow()
    made = ctx.db.run_write(lambda session: enqueue(session, ctx.settings, now))
    lines = deliver_due(ctx.db, ctx.settings, now)
    return JobResult(summary=f"{made} delivery(ies) made, {len(lines)} attempt(s)", changes=lines)


WEBHOOKS_JOB = Job(
    name="webhooks",
    description="Tell webhooks about new events, and retry failed deliveries with backoff",
    interval=dt.timedelta(seconds=30),
    run=run_webhooks,
)
