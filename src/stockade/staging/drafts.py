"""Draft releases as a project's management page shows them: the project's open publishing
sessions with their files, who opened each and when it expires."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.db import utcnow
from stockade.staging.files import live_files
from stockade.staging.models import LIVE_STATES, PublishingSession
from stockade.staging.services import StagingError

__all__ = ["Draft", "DraftFile", "draft_token", "project_drafts"]


@dataclass(frozen=True)
class DraftFile:
    filename: str
    size: int
    status: str


@dataclass(frozen=True)
class Draft:
    """An open publishing session; ``id`` names it in the management forms (its token, the
    preview's capability, stays out of page addresses)."""

    id: int
    version: str
    status: str
    opened_by: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    files: tuple[DraftFile, ...]


def _live(normalized_name: str) -> tuple[ColumnElement[bool], ...]:
    return (
        PublishingSession.normalized_name == normalized_name,
        PublishingSession.status.in_(LIVE_STATES),
        PublishingSession.expires_at > utcnow(),
    )


def project_drafts(session: Session, normalized_name: str) -> list[Draft]:
    """The project's live sessions, oldest first."""
    drafts = []
    for staged in session.scalars(
        select(PublishingSession).where(*_live(normalized_name)).order_by(PublishingSession.id)
    ):
        opener = session.get(User, staged.created_by_id) if staged.created_by_id else None
        files = tuple(DraftFile(f.filename, f.size, f.status) for f in live_files(session, staged))
        drafts.append(
            Draft(
                id=staged.id,
                version=staged.version,
                status=staged.status,
                opened_by=opener.username if opener is not None else None,
                created_at=staged.created_at,
                expires_at=staged.expires_at,
                files=files,
            )
        )
    return drafts


def draft_token(session: Session, normalized_name: str, draft_id: int) -> tuple[str, str]:
    """The session token and version of the project's live session ``draft_id``; 404
    otherwise."""
    row = session.execute(
        select(PublishingSession.token, PublishingSession.version).where(
            *_live(normalized_name), PublishingSession.id == draft_id
        )
    ).first()
    if row is None:
        raise StagingError(404, "No such draft release: it was published, canceled or expired.")
    return row.token, row.version
