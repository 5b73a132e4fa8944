"""The mirror's job: publish held files that have matured, re-check cached projects.

Every run promotes the files whose cooldown is over (or that an exemption lets through), then
re-fetches every cached project not checked within ``mirror_recheck_seconds`` (default: a day),
so that upstream removals, yanks and quarantines are followed even for projects nobody asks for.
"""

from __future__ import annotations

import datetime as dt

from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.mirror.services import Mirror

__all__ = ["MIRROR_JOB", "run_mirror_job"]


def run_mirror_job(ctx: JobContext, mirror: Mirror | None = None) -> JobResult:
    own = mirror is None
    mirror = mirror or Mirror(ctx.db, ctx.settings)
    result = JobResult()
    try:
        mirror.apply_settings()
        for name in mirror.promote():
            result.changes.append(f"{name}: held files published (cooldown over)")
        checked = failed = 0
        for name in mirror.due():
            outcome = mirror.refresh(name, force=True)
            checked += 1
            if outcome.outcome == "error":
                failed += 1
                result.changes.append(f"{name}: upstream failed: {outcome.error}")
            elif outcome.report is not None and outcome.report.changed:
                result.changes.append(f"{name}: followed upstream")
        result.summary = (
            f"{checked} cached project(s) re-checked ({failed} failed), "
            f"{len(result.changes)} change(s)"
        )
    finally:
        if own:
            mirror.close()
    return result


MIRROR_JOB = Job(
    name="mirror-refresh",
    description=(
        "Publish upstream files whose cooldown is over; re-check every cached upstream project "
        "within mirror_recheck_seconds (default one day)."
    ),
    interval=dt.timedelta(minutes=10),
    run=run_mirror_job,
)
