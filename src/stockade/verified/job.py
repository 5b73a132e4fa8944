"""The ``verified-domains`` job: domains waiting for their TXT record are checked hourly, and
verified ones daily (a record removed takes the mark away)."""

from __future__ import annotations

import datetime as dt

from stockade.db import utcnow
from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.verified.services import check_due

__all__ = ["VERIFIED_DOMAINS_JOB"]


def _run(ctx: JobContext) -> JobResult:
    lines = check_due(ctx.db, ctx.settings, utcnow())
    return JobResult(summary=f"{len(lines)} domain(s) checked", changes=lines)


VERIFIED_DOMAINS_JOB = Job(
    name="verified-domains",
    description="Check the DNS TXT records of the domains projects verify",
    interval=dt.timedelta(hours=1),
    run=_run,
)
