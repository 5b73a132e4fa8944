"""Account settings: profile, email addresses, password. The services behind /manage/account/.

Every function takes the logged-in user's id, works inside the caller's transaction, raises
SettingsError (a message for one form field) when the change is refused, and returns what must
be mailed once the transaction has committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.flows import EMAIL_IN_USE, PendingVerification, start_verification
from stockade.accounts.forms import PasswordForm
from stockade.accounts.models import User, UserEmail
from stockade.accounts.services import hash_password, verify_password
from stockade.accounts.sessions import SessionPolicy, end_user_sessions, start_session
from stockade.accounts.twofactor.factors import end_pending_logins
from stockade.db.base import utcnow
from stockade.events.services import Origin, record

__all__ = [
    "InactiveUser",
    "PasswordChanged",
    "PrimaryChanged",
    "SettingsError",
    "active_user",
    "add_email",
    "change_password",
    "make_primary",
    "remove_email",
    "resend_verification",
    "update_profile",
]

EMAIL_IN_USE_HERE = (
    "This email address is already being used by this account. Use a different email."
)


class SettingsError(Exception):
    """A refused change; ``field`` is the form field the message belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InactiveUser(Exception):
    """The account was disabled (or deleted) after its session was checked."""


@dataclass(frozen=True)
class PasswordChanged:
    """A new session for the browser that changed the password, and whom to tell."""

    cookie: str
    username: str
    notify: str | None


@dataclass(frozen=True)
class PrimaryChanged:
    """The new primary address, and the previous one (to be told)."""

    username: str
    address: str
    previous: str | None


def active_user(session: Session, user_id: int) -> User:
    """The user, locked for this transaction; raises InactiveUser when disabled or gone."""
    user = session.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None or not user.is_active:
        raise InactiveUser
    return user


def _own_email(user: User, email_id: int) -> UserEmail:
    email = next((e for e in user.emails if e.id == email_id), None)
    if email is None:
        raise SettingsError("email", "Email address not found.")
    return email


def update_profile(session: Session, user_id: int, *, full_name: str) -> None:
    """Set the user's full name (checked by forms.check_full_name; empty clears it)."""
    active_user(session, user_id).full_name = full_name or None


def add_email(
    session: Session, user_id: int, address: str, *, origin: Origin
) -> PendingVerification:
    """Add an unverified address (checked by forms.check_email) and a link to verify it.

    Event: ``account:email:add``.
    """
    user = active_user(session, user_id)
    owner = session.scalar(
        select(UserEmail.user_id).where(UserEmail.email_lower == address.lower())
    )
    if owner is not None:
        raise SettingsError("email", EMAIL_IN_USE_HERE if owner == user.id else EMAIL_IN_USE)
    email = UserEmail(
        user_id=user.id, email=address, email_lower=address.lower(), primary=False, verified=False
    )
    user.emails.append(email)
    session.flush()
    record(
        session,
        "account:email:add",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        email=address,
    )
    return start_verification(session, user, email)


def resend_verification(session: Session, user_id: int, email_id: int) -> PendingVerification:
    """A new verification link for an unverified address of the user."""
    user = active_user(session, user_id)
    email = _own_email(user, email_id)
    if email.verified:
        raise SettingsError("email", "Email is already verified.")
    return start_verification(session, user, email)


def make_primary(
    session: Session, user_id: int, email_id: int, *, origin: Origin
) -> PrimaryChanged:
    """Make a verified address the primary one. Event: ``account:email:primary:change``."""
    user = active_user(session, user_id)
    email = _own_email(user, email_id)
    if not email.verified:
        raise SettingsError(
            "email", f"Cannot set {email.email} as primary: verify the address first."
        )
    previous = user.primary_email
    if previous is email:
        return PrimaryChanged(user.username, email.email, None)
    if previous is not None:
        previous.primary = False
    email.primary = True
    record(
        session,
        "account:email:primary:change",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        old_primary=previous.email if previous else None,
        new_primary=email.email,
    )
    notify = previous.email if previous is not None and previous.verified else None
    return PrimaryChanged(user.username, email.email, notify)


def remove_email(session: Session, user_id: int, email_id: int, *, origin: Origin) -> str:
    """Remove an address that is neither the primary nor the last one; returns it.

    Event: ``account:email:remove``.
    """
    user = active_user(session, user_id)
    email = _own_email(user, email_id)
    if email.primary:
        raise SettingsError(
            "email", "Cannot remove your primary email address. Make another one primary first."
        )
    if len(user.emails) < 2:
        raise SettingsError("email", "Cannot remove your only email address.")
    user.emails.remove(email)
    record(
        session,
        "account:email:remove",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        email=email.email,
    )
    return email.email


def change_password(
    session: Session,
    user_id: int,
    posted: PasswordForm,
    *,
    origin: Origin,
    policy: SessionPolicy,
) -> PasswordChanged:
    """Change the password (the current one must be right), end every session of the account
    and start a new one for this browser. Event: ``account:password:change``.
    """
    user = active_user(session, user_id)
    if not verify_password(user, posted.current):
        raise SettingsError("password", "The password is invalid. Try again.")
    user.password_hash = hash_password(posted.new)
    user.password_changed_at = utcnow()
    # Every session, this one included: whoever else was logged in is out, and this browser
    # gets a new session id.
    end_user_sessions(session, user.id)
    end_pending_logins(session, user.id)
    cookie, _ = start_session(session, user, origin=origin, policy=policy)
    record(session, "account:password:change", origin=origin, actor_id=user.id, user_id=user.id)
    # As on PyPI, notices go only to a verified primary address.
    primary = user.verified_primary_email
    notify = primary.email if primary is not None else None
    return PasswordChanged(cookie, user.username, notify)
