"""Registration, email verification and login: the services behind the public account pages.

Each function works inside the caller's transaction and returns what must happen after it
commits (a mail to send, a cookie to set); none sends mail itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.email_domains.check import DomainUntrusted, domain_refusal
from stockade.accounts.forms import RegisterForm
from stockade.accounts.models import User, UserEmail
from stockade.accounts.onetime import TokenInvalid, TokenProblem, issue_token, redeem_token
from stockade.accounts.passwords import burn_password_check
from stockade.accounts.services import create_user, find_user, verify_password
from stockade.accounts.sessions import SessionPolicy, finish_login
from stockade.accounts.twofactor.factors import has_two_factor
from stockade.accounts.twofactor.login import start_pending_login
from stockade.db.base import utcnow
from stockade.events.services import Origin, record

__all__ = [
    "EMAIL_IN_USE",
    "USERNAME_IN_USE",
    "VERIFY_EMAIL",
    "VERIFY_LIFETIME",
    "PendingVerification",
    "SecondFactorNeeded",
    "VerifiedEmail",
    "find_login_user",
    "log_in",
    "register",
    "start_verification",
    "verify_email",
]

VERIFY_EMAIL = "verify-email"
VERIFY_LIFETIME = dt.timedelta(hours=24)
USERNAME_IN_USE = (
    "This username is already being used by another account. Choose a different username."
)
EMAIL_IN_USE = "This email address is already being used by another account. Use a different email."


@dataclass(frozen=True)
class SecondFactorNeeded:
    """The password was right; the login waits for a second factor (the pending login's
    secret goes into the browser's cookie)."""

    pending_secret: str


@dataclass(frozen=True)
class PendingVerification:
    """A verification link to mail once the transaction has committed."""

    user_id: int
    username: str
    email_id: int
    address: str
    secret: str


@dataclass(frozen=True)
class VerifiedEmail:
    """The outcome of a verification link."""

    username: str
    address: str
    primary: bool
    # True when the address had already been verified (through another link).
    already: bool


def start_verification(session: Session, user: User, email: UserEmail) -> PendingVerification:
    """Issue a single-use verification token for one address of ``user``."""
    secret = issue_token(
        session,
        user_id=user.id,
        purpose=VERIFY_EMAIL,
        subject_id=email.id,
        lifetime=VERIFY_LIFETIME,
    )
    return PendingVerification(user.id, user.username, email.id, email.email, secret)


def register(
    session: Session, posted: RegisterForm, *, origin: Origin
) -> PendingVerification | None:
    """Create the account of a checked registration form, its address unverified.

    Returns None (with ``posted.errors`` filled in) when the name or the address is taken.
    Events: ``account:create``, ``account:email:add``.
    """
    if find_user(session, posted.username) is not None:
        posted.errors["username"] = USERNAME_IN_USE
    if session.scalar(select(UserEmail.id).where(UserEmail.email_lower == posted.email.lower())):
        posted.errors["email"] = EMAIL_IN_USE
    if posted.errors:
        return None
    user = create_user(
        session, posted.username, email=posted.email, password=posted.password, origin=origin
    )
    user.full_name = posted.full_name or None
    email = session.scalars(select(UserEmail).where(UserEmail.user_id == user.id)).one()
    record(
        session,
        "account:email:add",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        email=email.email,
    )
    return start_verification(session, user, email)


def verify_email(session: Session, secret: str, *, origin: Origin) -> VerifiedEmail:
    """Use a verification link: the address it was sent to becomes verified.

    Raises TokenInvalid for a secret that is unknown, expired, used or meant for something
    else, and for an address removed (or an account disabled) since the link was sent;
    DomainUntrusted while the address's domain failed its last domain check.
    Event: ``account:email:verified``.
    """
    token = redeem_token(session, secret, purpose=VERIFY_EMAIL)
    email = session.get(UserEmail, token.subject_id) if token.subject_id is not None else None
    user = session.get(User, token.user_id)
    if email is None or user is None or email.user_id != user.id or not user.is_active:
        raise TokenInvalid(TokenProblem.INVALID)
    # A lapsed or resurrected domain's mail may be read by someone else (see ``email_domains``).
    if not email.verified and (problem := domain_refusal(session, email.email)) is not None:
        raise DomainUntrusted(problem)
    already = email.verified
    if not already:
        email.verified = True
        email.verified_at = utcnow()
        record(
            session,
            "account:email:verified",
            origin=origin,
            actor_id=user.id,
            user_id=user.id,
            email=email.email,
            primary=email.primary,
        )
    return VerifiedEmail(user.username, email.email, email.primary, already)


def find_login_user(session: Session, name: str) -> User | None:
    """The user a login form names: by username, else by one of their email addresses."""
    user = find_user(session, name)
    if user is None and "@" in name:
        user = session.scalar(
            select(User).join(UserEmail).where(UserEmail.email_lower == name.lower())
        )
    return user


def log_in(
    session: Session,
    user_id: int | None,
    password: str,
    *,
    origin: Origin,
    policy: SessionPolicy,
    previous_session: str | None = None,
    next_path: str | None = None,
) -> str | SecondFactorNeeded | None:
    """Check a password and start a session: returns the new session cookie, or None.

    For an account with two-factor authentication no session starts: the result is a
    SecondFactorNeeded whose secret identifies the pending login (see accounts.twofactor.login).

    A passed login is finished by ``sessions.finish_login`` (``previous_session``, the session
    the browser had, ends: a planted cookie is worth nothing). Failures are events with a reason
    (``unknown_user``, ``invalid_password``, ``disabled``), against the user when there is one.
    Events: ``account:login:success``, ``account:login:failure``.
    """
    user = session.get(User, user_id) if user_id is not None else None
    if user is None:
        burn_password_check(password)
        record(session, "account:login:failure", origin=origin, reason="unknown_user")
        return None
    reason = None
    if not verify_password(user, password):
        reason = "invalid_password"
    elif not user.is_active:
        reason = "disabled"
    if reason is not None:
        record(session, "account:login:failure", origin=origin, user_id=user.id, reason=reason)
        return None
    if has_two_factor(session, user.id):
        return SecondFactorNeeded(
            start_pending_login(session, user, origin=origin, next_path=next_path)
        )
    return finish_login(
        session,
        user,
        method="password",
        origin=origin,
        policy=policy,
        previous_session=previous_session,
    )
