"""Browser sessions: server-side rows, secret cookies, idle and absolute expiry, rotation."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stockade.accounts.digests import sha256_hex
from stockade.accounts.models import User, UserSession
from stockade.db.base import utcnow
from stockade.events.services import Origin

__all__ = [
    "SessionPolicy",
    "end_session",
    "end_user_sessions",
    "load_session",
    "start_session",
]

# Writing last_seen_at on every request would make every page view a database write.
_TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live."""

    idle: dt.timedelta = dt.timedelta(hours=12)
    absolute: dt.timedelta = dt.timedelta(days=7)


def start_session(
    session: Session, user: User, *, origin: Origin, policy: SessionPolicy
) -> tuple[str, UserSession]:
    """Create a session for ``user``; returns the cookie value (shown once) and the row."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        id=sha256_hex(secret),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
        csrf_secret=secrets.token_hex(32),
        ip_address=origin.ip_address,
        user_agent=(origin.user_agent or "")[:512] or None,
    )
    session.add(row)
    return secret, row


def load_session(
    session: Session, cookie: str, *, policy: SessionPolicy
) -> tuple[UserSession, User] | None:
    """The live session and its (active) user for a cookie value, or None.

    Refreshes ``last_seen_at`` at most once a minute (the caller commits).
    """
    if not cookie or len(cookie) > 200:
        return None
    found = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == sha256_hex(cookie))
    ).one_or_none()
    if found is None:
        return None
    row, user = found
    now = utcnow()
    if (
        row.revoked_at is not None
        or row.expires_at <= now
        or row.last_seen_at + policy.idle <= now
        or not user.is_active
    ):
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
    return row, user


def end_session(session: Session, row: UserSession) -> None:
    """Log out: the session can never be used again."""
    row.revoked_at = utcnow()


def end_user_sessions(session: Session, user_id: int, *, keep: str | None = None) -> None:
    """End every session of a user (password change, disablement), except ``keep``."""
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    session.execute(query.values(revoked_at=utcnow()))
