"""Password reset by a mailed link.

The link goes only to a **verified** address (the domain checks unverify addresses whose
domain lapsed, so a resurrected domain gets nothing); it works once, for six hours, and dies as
soon as the password changes, someone logs in to the account, or the address stops being
verified. At most three links a day per account. A reset sets the password and ends every
session; it never touches second factors and never logs anyone in: the user then logs in with
the new password *and* their second factor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from stockade.accounts.email_domains.check import domain_refusal
from stockade.accounts.flows import find_login_user
from stockade.accounts.models import AccountToken, User, UserEmail
from stockade.accounts.onetime import (
    TokenInvalid,
    TokenProblem,
    check_token,
    issue_token,
    redeem_token,
)
from stockade.accounts.services import hash_password
from stockade.accounts.sessions import end_user_sessions
from stockade.accounts.twofactor.factors import end_pending_logins
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.db.ratelimit import Limit, RateLimited, hit
from stockade.events.services import Origin, record

__all__ = [
    "RESETS_PER_ACCOUNT",
    "RESET_LIFETIME",
    "RESET_PURPOSE",
    "RESET_REQUESTS_PER_IP",
    "PendingReset",
    "ResetDone",
    "ResetInvalid",
    "ResetTarget",
    "check_reset_link",
    "complete_reset",
    "issue_reset",
    "request_reset",
]

RESET_PURPOSE = "password-reset"
# PyPI's lifetime.
RESET_LIFETIME = dt.timedelta(hours=6)
RESETS_PER_ACCOUNT = Limit(count=3, seconds=24 * 60 * 60)
# Someone typing names from a list: slow them down (and keep us from sending much mail).
RESET_REQUESTS_PER_IP = Limit(count=20, seconds=60 * 60)

_PROBLEMS = {
    TokenProblem.INVALID: "Invalid token: request a new password reset link.",
    TokenProblem.EXPIRED: "Expired token: request a new password reset link.",
    TokenProblem.USED: "This link has already been used: request a new password reset link.",
    TokenProblem.WRONG_PURPOSE: "Invalid token: not a password reset token.",
}
VOID = (
    "This link is no longer valid: the password was changed, or someone logged in to the "
    "account, after it was sent. Request a new password reset link if you still need one."
)
ADDRESS_GONE = (
    "This link is no longer valid: the address it was sent to is no longer verified. Request a "
    "new password reset link."
)


class ResetInvalid(Exception):
    """A reset link that cannot be used; ``message`` says why (PyPI's wording)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PendingReset:
    """A reset link to mail once the transaction has committed."""

    username: str
    address: str
    secret: str


@dataclass(frozen=True)
class ResetTarget:
    """Whose password a valid link resets (for the form and the password rules)."""

    user_id: int
    username: str
    full_name: str | None
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class ResetDone:
    """A finished reset: the account, and every verified address (to be told)."""

    username: str
    notify: tuple[str, ...]


def _address_for(user: User, typed: str) -> tuple[UserEmail | None, str]:
    """The address to send the link to, or None and the reason nothing is sent."""
    if "@" in typed:
        email = next((e for e in user.emails if e.email_lower == typed.lower()), None)
        if email is None or not email.verified:
            return None, "unverified_email"
        return email, ""
    email = user.any_verified_email
    return (email, "") if email is not None else (None, "no_verified_email")


def issue_reset(session: Session, user: User, email: UserEmail, *, origin: Origin) -> PendingReset:
    """Issue a reset link for ``user`` to ``email`` (verified). Event:
    ``account:password:reset:request``."""
    secret = issue_token(
        session,
        user_id=user.id,
        purpose=RESET_PURPOSE,
        subject_id=email.id,
        lifetime=RESET_LIFETIME,
    )
    record(
        session,
        "account:password:reset:request",
        origin=origin,
        user_id=user.id,
        email=email.email,
    )
    return PendingReset(user.username, email.email, secret)


def _refuse(db: Database, user_id: int, origin: Origin, reason: str, email: str | None) -> None:
    with db.write() as session:
        record(
            session,
            "account:password:reset:refused",
            origin=origin,
            user_id=user_id,
            reason=reason,
            email=email,
        )


def request_reset(db: Database, typed: str, *, origin: Origin) -> PendingReset | None:
    """Handle a "forgot password" form: a link to mail, or None when nothing is sent.

    The caller answers the same way in both cases, so the form tells nobody which accounts or
    addresses exist. A refusal (no verified address, an untrusted domain, a disabled account,
    too many resets today) is an ``account:password:reset:refused`` event in the account's
    history. Counts against the account's daily limit only when a link is sent.
    """
    with db.read() as session:
        user = find_login_user(session, typed)
        if user is None:
            return None
        user_id, active = user.id, user.is_active
        email, reason = _address_for(user, typed)
        address = email.email if email is not None else (typed if "@" in typed else None)
        if email is not None and (domain_refusal(session, email.email) is not None):
            email, reason = None, "untrusted_domain"
    if not active:
        reason = "disabled"
    if reason or email is None:
        _refuse(db, user_id, origin, reason or "no_verified_email", address)
        return None
    try:
        hit(db, f"password-reset:user:{user_id}", RESETS_PER_ACCOUNT)
    except RateLimited:
        _refuse(db, user_id, origin, "rate_limited", address)
        return None
    with db.write() as session:
        user = session.get(User, user_id)
        email = session.get(UserEmail, email.id)
        if user is None or email is None or not email.verified:
            return None
        return issue_reset(session, user, email, origin=origin)


def _check(session: Session, token: AccountToken) -> User:
    """The user of a reset token that is still valid; raises ResetInvalid otherwise."""
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise ResetInvalid(_PROBLEMS[TokenProblem.INVALID])
    for moment in (user.password_changed_at, user.last_login_at):
        if moment is not None and token.created_at < moment:
            raise ResetInvalid(VOID)
    email = session.get(UserEmail, token.subject_id) if token.subject_id is not None else None
    if email is None or email.user_id != user.id or not email.verified:
        raise ResetInvalid(ADDRESS_GONE)
    return user


def check_reset_link(session: Session, secret: str) -> ResetTarget:
    """Whose password the link resets, without using it up; raises ResetInvalid."""
    try:
        token = check_token(session, secret, purpose=RESET_PURPOSE)
    except TokenInvalid as exc:
        raise ResetInvalid(_PROBLEMS[exc.problem]) from exc
    user = _check(session, token)
    return ResetTarget(user.id, user.username, user.full_name, tuple(e.email for e in user.emails))


def complete_reset(
    session: Session, secret: str, new_password: str, *, origin: Origin
) -> ResetDone:
    """Use the link: set the new password (already checked against the password rules) and
    end every session. Second factors stay as they are; nobody is logged in.

    Raises ResetInvalid. Event: ``account:password:reset``.
    """
    try:
        token = redeem_token(session, secret, purpose=RESET_PURPOSE)
    except TokenInvalid as exc:
        raise ResetInvalid(_PROBLEMS[exc.problem]) from exc
    user = _check(session, token)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    end_user_sessions(session, user.id)
    end_pending_logins(session, user.id)
    email = session.get(UserEmail, token.subject_id)
    record(
        session,
        "account:password:reset",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        email=email.email if email is not None else None,
    )
    notify = tuple(e.email for e in user.emails if e.verified)
    return ResetDone(user.username, notify)
