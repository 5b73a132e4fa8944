"""Creating users and checking passwords."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User, UserEmail
from stockade.accounts.sessions import end_user_sessions
from stockade.db.base import utcnow
from stockade.events.services import Origin, record

__all__ = [
    "AccountError",
    "create_user",
    "find_user",
    "hash_password",
    "set_active",
    "verify_password",
]

# PyPI's rule: letters, digits, '.', '_' and '-', starting and ending with a letter or digit.
_USERNAME_RE = re.compile(r"^[A-Za-z0-9]$|^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()


class AccountError(ValueError):
    """A user cannot be created or changed as asked."""


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    """Whether ``password`` is the user's password; rehashes when parameters changed."""
    if not user.password_hash:
        return False
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return True


def find_user(session: Session, username: str) -> User | None:
    """The user with this name (case-insensitive), or None."""
    return session.scalar(select(User).where(User.username_lower == username.lower()))


def create_user(
    session: Session,
    username: str,
    *,
    email: str,
    password: str | None = None,
    is_admin: bool = False,
    email_verified: bool = False,
    origin: Origin,
) -> User:
    """Create a user with one (primary) email address.

    Raises AccountError for a bad or taken name, a bad or taken address, or a short password.
    ``email_verified`` is for operators vouching for an address (the CLI); addresses given
    through the web are verified by a mailed link.
    """
    if len(username) > 50 or not _USERNAME_RE.match(username):
        raise AccountError(
            "The username is invalid. Usernames must be 1-50 characters of letters, digits, "
            "'.', '_' and '-', and start and end with a letter or digit."
        )
    if not _EMAIL_RE.match(email) or len(email) > 254:
        raise AccountError(f"The email address {email!r} is not valid.")
    if find_user(session, username) is not None:
        raise AccountError(f"The username {username!r} is already taken.")
    if session.scalar(select(UserEmail.id).where(UserEmail.email_lower == email.lower())):
        raise AccountError("This email address is already in use by another account.")
    if password is not None and len(password) < 8:
        raise AccountError("The password must be at least 8 characters long.")
    user = User(
        username=username,
        username_lower=username.lower(),
        password_hash=hash_password(password) if password else None,
        password_changed_at=utcnow() if password else None,
        is_admin=is_admin,
        is_active=True,
    )
    session.add(user)
    session.flush()
    session.add(
        UserEmail(
            user_id=user.id,
            email=email,
            email_lower=email.lower(),
            primary=True,
            verified=email_verified,
            verified_at=utcnow() if email_verified else None,
        )
    )
    record(
        session,
        "account:create",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        is_admin=is_admin,
    )
    return user


def set_active(
    session: Session, user: User, active: bool, *, actor_id: int | None, origin: Origin
) -> bool:
    """Enable or disable an account; returns whether anything changed.

    A disabled account can do nothing: it cannot log in, its sessions end at once, and its
    API tokens are refused while it stays disabled.
    """
    changed = user.is_active != active
    if changed:
        user.is_active = active
        record(
            session,
            "account:enable" if active else "account:disable",
            origin=origin,
            actor_id=actor_id,
            user_id=user.id,
            username=user.username,
        )
    if not active:
        # Even when already disabled: no session of a disabled user may survive.
        end_user_sessions(session, user.id)
    return changed
