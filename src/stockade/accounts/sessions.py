"""Browser sessions: server-side rows, secret cookies, idle and absolute expiry, rotation; and
``finish_login``, the one place where a checked login becomes a session."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stockade.accounts.digests import sha256_hex
from stockade.accounts.models import User, UserSession
from stockade.accounts.twofactor.models import PendingLogin
from stockade.db.base import utcnow
from stockade.events.services import Origin, record

__all__ = [
    "SessionPolicy",
    "end_session",
    "end_user_sessions",
    "finish_login",
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


def finish_login(
    session: Session,
    user: User,
    *,
    method: str,
    origin: Origin,
    policy: SessionPolicy,
    previous_session: str | None = None,
    pending: PendingLogin | None = None,
) -> str:
    """Log ``user`` in: the one function that turns a checked login into a session, for the
    password-only login (``method`` ``password``) and for the second step of an account with
    two-factor authentication (``method`` ``totp``, ``recovery-code`` or ``webauthn``, with
    the ``pending`` login that step completes). Returns the new session's cookie value.

    The caller has already checked everything that decides *whether* the login succeeds: the
    password, that the account is active, and for an account with a second factor that factor
    (and the mailed confirmation of a new IP address when one is needed); an account with a
    second factor never reaches this with ``method`` ``password``. The rules enforced here:

    1. The browser's previous session (``previous_session``, the id of the session it had, if
       that session is still live) ends: a login always gets a fresh session id, so a cookie
       planted before the login is worth nothing (no session fixation).
    2. A new session starts under ``policy``; only the sha256 of its cookie is stored.
    3. The ``pending`` login, if any, is finished: its cookie cannot complete a login again.
    4. The account's ``last_login_at`` is stamped (it voids reset links issued before it).
    5. The event ``account:login:success`` is recorded with ``method``, against the user and
       with the request's IP address (which later tells a known IP address from a new one).
    """
    if previous_session is not None:
        row = session.get(UserSession, previous_session)
        if row is not None and row.revoked_at is None:
            end_session(session, row)
    cookie, _ = start_session(session, user, origin=origin, policy=policy)
    if pending is not None:
        pending.finished_at = utcnow()
    user.last_login_at = utcnow()
    record(
        session,
        "account:login:success",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        method=method,
    )
    return cookie
