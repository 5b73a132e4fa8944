"""The second step of logging in: a login whose password was right waits (as a pending login,
not a session) for a second factor, and, after a TOTP or recovery-code login from an IP address
the account never logged in from, for a mailed confirmation link (PyPI's phishing defence).

Each function works inside the caller's transaction and returns what must happen after commit.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from stockade.accounts.digests import sha256_hex
from stockade.accounts.models import AccountToken, User
from stockade.accounts.onetime import TokenInvalid, TokenProblem, issue_token, redeem_token
from stockade.accounts.sessions import SessionPolicy, finish_login
from stockade.accounts.twofactor.factors import totp_of
from stockade.accounts.twofactor.models import PendingLogin
from stockade.accounts.twofactor.recovery_codes import remaining_codes, spend_recovery_code
from stockade.accounts.twofactor.totp import spend_code
from stockade.db.base import utcnow
from stockade.db.ratelimit import Limit
from stockade.events.models import Event
from stockade.events.services import Origin, record

__all__ = [
    "CONFIRM_LIFETIME",
    "CONFIRM_LOGIN",
    "PENDING_LIFETIME",
    "SECOND_FACTOR_PER_ACCOUNT",
    "LoginOutcome",
    "complete_login",
    "confirm_failed",
    "confirm_login",
    "known_ip",
    "load_pending",
    "login_with_recovery_code",
    "login_with_totp",
    "start_pending_login",
]

PENDING_LIFETIME = dt.timedelta(minutes=10)
CONFIRM_LOGIN = "confirm-login"
CONFIRM_LIFETIME = dt.timedelta(minutes=30)
# Guessing 6-digit codes: few tries per account, whatever the number of pending logins.
SECOND_FACTOR_PER_ACCOUNT = Limit(count=10, seconds=15 * 60)
_MAX_SECRET = 200


@dataclass(frozen=True)
class LoginOutcome:
    """What a passed second factor leads to: a session cookie, or a confirmation to mail."""

    user_id: int
    username: str
    method: str
    next_path: str | None
    cookie: str | None = None
    # Set when a mailed confirmation is needed: the link's secret and where to send it.
    confirm_secret: str | None = None
    confirm_address: str | None = None
    ip_address: str | None = None
    # Mail to send after commit: a recovery code was used (and how many remain). To the
    # verified primary address, else another verified one: the owner must hear of it.
    recovery_remaining: int | None = None
    notify: str | None = None


def start_pending_login(
    session: Session, user: User, *, origin: Origin, next_path: str | None
) -> str:
    """Remember that ``user`` gave the right password; returns the secret for the browser's
    cookie. No session exists until ``complete_login``."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    # Spent and stale pending logins of the account are of no use any more.
    session.execute(
        delete(PendingLogin).where(
            PendingLogin.user_id == user.id,
            or_(PendingLogin.finished_at.is_not(None), PendingLogin.expires_at < now),
        )
    )
    session.add(
        PendingLogin(
            user_id=user.id,
            secret_sha256=sha256_hex(secret),
            next_path=next_path,
            ip_address=origin.ip_address,
            created_at=now,
            expires_at=now + PENDING_LIFETIME,
        )
    )
    return secret


def load_pending(
    session: Session, secret: str | None, *, for_update: bool = False
) -> PendingLogin | None:
    """The unfinished, unexpired pending login of this cookie secret, of an active user."""
    if not secret or len(secret) > _MAX_SECRET:
        return None
    query = select(PendingLogin).where(PendingLogin.secret_sha256 == sha256_hex(secret))
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None or row.finished_at is not None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return row


def known_ip(session: Session, user_id: int, ip_address: str | None) -> bool:
    """Whether the account ever logged in successfully from ``ip_address``."""
    if not ip_address:
        return False
    return (
        session.scalar(
            select(Event.id)
            .where(
                Event.user_id == user_id,
                Event.tag == "account:login:success",
                Event.ip_address == ip_address,
            )
            .limit(1)
        )
        is not None
    )


def _confirm_address(user: User) -> str | None:
    # The confirmation proves control of a verified address: the primary one if verified,
    # else another verified one.
    email = user.any_verified_email
    return email.email if email is not None else None


def complete_login(
    session: Session,
    pending: PendingLogin,
    *,
    method: str,
    origin: Origin,
    policy: SessionPolicy,
    previous_session: str | None = None,
    confirmed: bool = False,
) -> LoginOutcome:
    """The second factor ``method`` passed: start the session, or (TOTP or recovery code from
    an IP address the account never logged in from, unless ``confirmed``) mail a confirmation.

    The session is started by ``sessions.finish_login``, which also finishes ``pending``.
    Events: ``account:login:success`` (with the method), or ``account:login:confirmation-sent``.
    """
    user = session.get(User, pending.user_id)
    assert user is not None
    pending.method = method
    if (
        not confirmed
        and method in ("totp", "recovery-code")
        and not known_ip(session, user.id, origin.ip_address)
    ):
        address = _confirm_address(user)
        secret = issue_token(
            session,
            user_id=user.id,
            purpose=CONFIRM_LOGIN,
            subject_id=pending.id,
            lifetime=CONFIRM_LIFETIME,
        )
        pending.expires_at = utcnow() + CONFIRM_LIFETIME
        record(
            session,
            "account:login:confirmation-sent",
            origin=origin,
            actor_id=user.id,
            user_id=user.id,
            method=method,
            email=address,
        )
        return LoginOutcome(
            user.id,
            user.username,
            method,
            pending.next_path,
            confirm_secret=secret if address else None,
            confirm_address=address,
            ip_address=origin.ip_address,
            notify=_confirm_address(user),
        )
    cookie = finish_login(
        session,
        user,
        method=method,
        origin=origin,
        policy=policy,
        previous_session=previous_session,
        pending=pending,
    )
    return LoginOutcome(
        user.id,
        user.username,
        method,
        pending.next_path,
        cookie=cookie,
        notify=_confirm_address(user),
    )


def _failure(session: Session, pending: PendingLogin, origin: Origin, reason: str) -> None:
    record(session, "account:login:failure", origin=origin, user_id=pending.user_id, reason=reason)


def login_with_totp(
    session: Session,
    pending: PendingLogin,
    code: str,
    *,
    origin: Origin,
    policy: SessionPolicy,
    previous_session: str | None = None,
    now: float | None = None,
) -> LoginOutcome | None:
    """Second step with a TOTP code: None (and a failure event) for a wrong or spent code.
    ``now``: the time the code is checked against (default: the system clock)."""
    row = totp_of(session, pending.user_id)
    if row is None or not spend_code(session, row, code, now=now):
        _failure(session, pending, origin, "invalid_totp")
        return None
    return complete_login(
        session,
        pending,
        method="totp",
        origin=origin,
        policy=policy,
        previous_session=previous_session,
    )


def login_with_recovery_code(
    session: Session,
    pending: PendingLogin,
    code: str,
    *,
    origin: Origin,
    policy: SessionPolicy,
    previous_session: str | None = None,
) -> LoginOutcome | None:
    """Second step with a recovery code (each works once; its use is an event and mailed)."""
    if not spend_recovery_code(session, pending.user_id, code, origin=origin):
        _failure(session, pending, origin, "invalid_recovery_code")
        return None
    outcome = complete_login(
        session,
        pending,
        method="recovery-code",
        origin=origin,
        policy=policy,
        previous_session=previous_session,
    )
    left = remaining_codes(session, pending.user_id)
    return replace(outcome, recovery_remaining=left)


def confirm_failed(
    session: Session, pending_secret: str | None, link_secret: str, *, origin: Origin
) -> None:
    """Record a refused use of a confirmation link (``account:login:confirm:failure``) against
    the account the link or the browser's pending login belongs to (none when both are
    unknown: nothing to attribute it to). In its own transaction: the refused one rolled back.
    """
    user_id = None
    if link_secret:
        user_id = session.scalar(
            select(AccountToken.user_id).where(
                AccountToken.secret_sha256 == sha256_hex(link_secret),
                AccountToken.purpose == CONFIRM_LOGIN,
            )
        )
    if user_id is None:
        pending = load_pending(session, pending_secret)
        user_id = pending.user_id if pending is not None else None
    if user_id is not None:
        record(
            session,
            "account:login:confirm:failure",
            origin=origin,
            user_id=user_id,
            reason="invalid_link_or_browser",
        )


def confirm_login(
    session: Session,
    pending_secret: str | None,
    link_secret: str,
    *,
    origin: Origin,
    policy: SessionPolicy,
) -> LoginOutcome:
    """Use a mailed confirmation link: in the browser that holds the pending login, the
    session starts. Raises TokenInvalid otherwise (also when the link belongs to another
    pending login: the phisher's browser has the login, the owner's has the link)."""
    token = redeem_token(session, link_secret, purpose=CONFIRM_LOGIN)
    pending = load_pending(session, pending_secret, for_update=True)
    if pending is None or pending.id != token.subject_id or pending.method is None:
        raise TokenInvalid(TokenProblem.INVALID)
    return complete_login(
        session, pending, method=pending.method, origin=origin, policy=policy, confirmed=True
    )
