"""The ``staging-expire`` job: a publishing session past its ``expires-at`` is canceled (its
release free for a new session, its preview gone), and the staged file rows of every finished
session are removed, so their blobs are no longer referenced and the orphan sweep deletes
them (a published file's blob stays: its ``files`` row references it). A finished session's
own row stays, so its status URL keeps answering with the outcome."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from stockade.db import utcnow
from stockade.events.services import Origin, record
from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.staging.models import CANCELED, LIVE_STATES, PublishingSession, StagedFile
from stockade.staging.services import free_name

__all__ = ["STAGING_EXPIRE_JOB", "expire_sessions"]

JOB_ORIGIN = Origin(ip_address=None, user_agent="stockade-job:staging-expire")


def expire_sessions(session: Session, now: dt.datetime) -> list[str]:
    """Cancel the expired live sessions and drop finished sessions' staged files; returns
    one line per expired session."""
    expired = session.scalars(
        select(PublishingSession)
        .where(PublishingSession.status.in_(LIVE_STATES), PublishingSession.expires_at <= now)
        .with_for_update()
    ).all()
    changes = []
    for staged in expired:
        staged.status, staged.live_key, staged.finished_at = CANCELED, None, now
        record(
            session,
            "release:stage-expire",
            origin=JOB_ORIGIN,
            name=staged.normalized_name,
            version=staged.version,
        )
        changes.append(f"expired the session for {staged.normalized_name} {staged.version}")
    session.flush()
    for name in {staged.normalized_name for staged in expired}:
        free_name(session, name)
    finished = select(PublishingSession.id).where(PublishingSession.status.not_in(LIVE_STATES))
    session.execute(delete(StagedFile).where(StagedFile.session_id.in_(finished)))
    return changes


def _run(ctx: JobContext) -> JobResult:
    changes = ctx.db.run_write(lambda session: expire_sessions(session, utcnow()))
    return JobResult(summary=f"{len(changes)} publishing session(s) expired", changes=changes)


STAGING_EXPIRE_JOB = Job(
    name="staging-expire",
    description="Cancel publishing sessions past their expiry and discard their files",
    interval=dt.timedelta(minutes=15),
    run=_run,
)
