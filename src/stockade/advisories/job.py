"""The scheduled re-import (job ``advisories-import``) from the URLs in ``advisory_urls``;
nothing to do when none are configured."""

from __future__ import annotations

import datetime as dt

from stockade.advisories.importer import import_documents
from stockade.advisories.notices import NoticeOutbox
from stockade.advisories.sources import SourceError, open_sources
from stockade.events.services import Origin
from stockade.jobs.interface import Job, JobContext, JobResult

__all__ = ["ADVISORIES_JOB", "JOB_ORIGIN", "configured_urls"]

JOB_ORIGIN = Origin(ip_address=None, user_agent="stockade-job advisories-import")


def configured_urls(value: str) -> list[str]:
    """The URLs of the ``advisory_urls`` setting (separated by spaces, commas or lines)."""
    return [u for u in value.replace(",", " ").split() if u]


def _run(ctx: JobContext) -> JobResult:
    urls = configured_urls(ctx.settings.advisory_urls)
    if not urls:
        return JobResult(summary="no advisory_urls configured: nothing imported")
    outbox = NoticeOutbox(base_url=ctx.settings.base_url, site_name=ctx.settings.site_name)
    result = JobResult()
    lines = []
    for url in urls:
        # One source at a time: a broken URL does not keep the others from updating.
        try:
            with open_sources([url]) as documents:
                done = import_documents(ctx.db, documents, origin=JOB_ORIGIN, outbox=outbox)
        except SourceError as exc:
            lines.append(f"{url}: {exc}")
            continue
        outbox.deliver(ctx.mailer)
        lines.append(f"{url}: {done.summary()}")
        result.changes += [f"{osv_id} matches {name}" for osv_id, name in done.notified]
    result.summary = "; ".join(lines)
    return result


ADVISORIES_JOB = Job(
    name="advisories-import",
    description="Import security advisories again from the URLs in advisory_urls.",
    interval=dt.timedelta(hours=6),
    run=_run,
)
