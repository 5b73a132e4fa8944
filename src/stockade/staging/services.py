"""Publishing sessions (PEP 694): create, read, extend and cancel a staged release.

Every request is authorized afresh against the project's upload permissions (the same rules
as the legacy upload: token scope, role or trusted publisher, 2FA), so a session is not tied
to the credentials that opened it. A second live session for the same name and version is
refused with 409 and the first one's address; the refusal for a principal not allowed to
upload (403) comes first, so the session's existence is not disclosed.
"""

from __future__ import annotations

import datetime as dt
import secrets

from packaging.utils import InvalidName, canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.config import Settings
from stockade.db import Database, utcnow
from stockade.errors import ServiceError
from stockade.events.services import Origin, record
from stockade.index import reservations
from stockade.index.models import Project
from stockade.publish.checks import authorize, upload_target
from stockade.publish.errors import UploadError
from stockade.staging.models import CANCELED, LIVE_STATES, OPEN, PublishingSession
from stockade.tokens.services import AuthenticatedToken

__all__ = [
    "SESSION_LIFETIME",
    "StagingError",
    "authorize_for",
    "authorized_session",
    "cancel_session",
    "create_session",
    "extend_session",
    "free_name",
    "live_session",
    "load_session",
]

# How long a session lives unless extended (PEP 694 recommends no less than a week).
SESSION_LIFETIME = dt.timedelta(days=7)
# The longest a session may be extended to, counted from now.
MAX_EXTENSION = dt.timedelta(days=7)


class StagingError(ServiceError):
    """A refused session request (``status``, ``message``); ``session_token`` names the live
    session a 409 points at."""

    def __init__(self, status: int, message: str, *, session_token: str | None = None) -> None:
        super().__init__(status, message)
        self.session_token = session_token


def authorize_for(
    session: Session, settings: Settings, token: AuthenticatedToken, name: str
) -> Project | None:
    """The project a principal may upload to now (None: not created yet); raises 403."""
    project = session.scalar(
        select(Project).where(Project.normalized_name == canonicalize_name(name))
    )
    try:
        target = upload_target(session, settings, token, project)
        authorize(session, settings, token, target, name)
    except UploadError as exc:
        raise StagingError(exc.status, exc.message) from exc
    return target


def _live_key(normalized_name: str, canonical_version: str) -> str:
    return f"{normalized_name}=={canonical_version}"


def create_session(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    name: str,
    version: str,
    origin: Origin,
) -> PublishingSession:
    """Open a publishing session for ``name`` ``version``."""
    try:
        normalized = canonicalize_name(name, validate=True)
    except InvalidName as exc:
        raise StagingError(400, f"Invalid project name {name!r}.") from exc
    try:
        Version(version)
    except InvalidVersion as exc:
        raise StagingError(400, f"Invalid version {version!r}.") from exc
    canonical = canonicalize_version(version)
    key = _live_key(normalized, canonical)

    def unit(session: Session) -> PublishingSession:
        reservations.lock_name(session, normalized)
        project = authorize_for(session, settings, token, name)
        live = session.scalar(select(PublishingSession).where(PublishingSession.live_key == key))
        if live is not None and live.expires_at <= utcnow():
            # Expired: discarded now, and the release is free again.
            live.status, live.live_key, live.finished_at = CANCELED, None, utcnow()
            session.flush()
            live = None
        if live is not None:
            raise StagingError(
                409,
                f"A publishing session for {normalized} {canonical} is already open.",
                session_token=live.token,
            )
        now = utcnow()
        staged = PublishingSession(
            token=secrets.token_urlsafe(32),
            name=name,
            normalized_name=normalized,
            version=version,
            canonical_version=canonical,
            live_key=key,
            status=OPEN,
            created_by_id=token.actor_id,
            created_at=now,
            expires_at=now.replace(microsecond=0) + SESSION_LIFETIME,
        )
        session.add(staged)
        session.flush()
        if project is None and token.publisher_id is None:
            # A first release: the name is this user's while the session lives (PEP 694).
            reservations.reserve(session, normalized, token.user_id, staged.expires_at)
        record(
            session,
            "release:stage",
            origin=origin,
            actor_id=token.actor_id,
            project_id=project.id if project is not None else None,
            name=normalized,
            version=version,
            token_id=token.api_token_id,
            publisher_id=token.publisher_id,
        )
        session.expunge(staged)
        return staged

    try:
        return db.run_write(unit)
    except IntegrityError:
        # Another request opened the same release's session between our read and write.
        with db.read() as session:
            live = session.scalar(
                select(PublishingSession).where(PublishingSession.live_key == key)
            )
        raise StagingError(
            409,
            f"A publishing session for {normalized} {canonical} is already open.",
            session_token=live.token if live is not None else None,
        ) from None


def free_name(session: Session, normalized_name: str) -> None:
    """After a session of this name ended: its name reservation lasts as long as the other
    live sessions of the name do, and goes with the last of them."""
    session.flush()
    remaining = session.scalar(
        select(func.max(PublishingSession.expires_at)).where(
            PublishingSession.normalized_name == normalized_name,
            PublishingSession.status.in_(LIVE_STATES),
            PublishingSession.expires_at > utcnow(),
        )
    )
    reservations.release(session, normalized_name, remaining)


def load_session(session: Session, session_token: str, *, lock: bool = False) -> PublishingSession:
    query = select(PublishingSession).where(PublishingSession.token == session_token)
    staged = session.scalar(query.with_for_update() if lock else query)
    if staged is None:
        raise StagingError(404, "No such publishing session.")
    return staged


def authorized_session(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    *,
    lock: bool = False,
) -> tuple[PublishingSession, Project | None]:
    """The session, in any state, once the principal may upload to its project now (a 404
    for no such session, else the 403 of :func:`authorize_for`), and that project (None
    before its first release)."""
    staged = load_session(session, session_token, lock=lock)
    return staged, authorize_for(session, settings, token, staged.normalized_name)


def live_session(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    verb: str,
) -> tuple[PublishingSession, Project | None]:
    """The session, locked, while it is open (or in error) and the principal may upload to its
    project, and that project (None before its first release)."""
    staged, project = authorized_session(session, settings, token, session_token, lock=True)
    if staged.status not in LIVE_STATES:
        raise StagingError(409, f"The session is {staged.status}; it cannot be {verb}.")
    if staged.expires_at <= utcnow():
        raise StagingError(404, "The publishing session has expired.")
    return staged, project


def extend_session(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    seconds: int,
) -> PublishingSession:
    """Move the session's expiry later (never earlier, at most a week from now)."""

    def unit(session: Session) -> PublishingSession:
        staged, _project = live_session(session, settings, token, session_token, "extended")
        now = utcnow().replace(microsecond=0)
        wanted = now + min(dt.timedelta(seconds=max(seconds, 0)), MAX_EXTENSION)
        staged.expires_at = max(staged.expires_at, wanted)
        if _project is None and token.publisher_id is None:
            reservations.reserve(session, staged.normalized_name, token.user_id, staged.expires_at)
        session.flush()
        session.expunge(staged)
        return staged

    return db.run_write(unit)


def cancel_session(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    origin: Origin,
) -> PublishingSession:
    """Cancel an open (or failed) session: its release's name and version are free again."""

    def unit(session: Session) -> PublishingSession:
        staged, project = live_session(session, settings, token, session_token, "canceled")
        staged.status = CANCELED
        staged.live_key = None
        staged.finished_at = utcnow()
        free_name(session, staged.normalized_name)
        record(
            session,
            "release:stage-cancel",
            origin=origin,
            actor_id=token.actor_id,
            project_id=project.id if project is not None else None,
            name=staged.normalized_name,
            version=staged.version,
            token_id=token.api_token_id,
        )
        session.flush()
        session.expunge(staged)
        return staged

    return db.run_write(unit)
