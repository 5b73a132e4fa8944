"""Creating and checking API tokens.

A token reads ``stockade-<identifier>.<secret>``: the identifier finds the row, the secret is
checked against its stored sha256. The secret carries 256 bits of randomness, so a fast hash
is enough: a leaked database gives no usable token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.tokens.models import ApiToken

__all__ = ["TOKEN_PREFIX", "AuthenticatedToken", "TokenError", "check_token", "create_token"]

TOKEN_PREFIX = "stockade-"  # noqa: S105  (a public prefix, not a secret)


class TokenError(ValueError):
    """The token is malformed, unknown, expired, revoked or its user is disabled."""


@dataclass(frozen=True)
class AuthenticatedToken:
    """A token that passed every check, and whom it belongs to."""

    token_id: int
    user_id: int
    username: str
    project_name: str | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session,
    user: User,
    *,
    name: str,
    project_name: str | None = None,
    expires_days: int | None = None,
    origin: Origin,
) -> str:
    """Create a token for ``user`` and return it; this is the only time it is visible."""
    identifier = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires_at = utcnow() + dt.timedelta(days=expires_days) if expires_days else None
    token = ApiToken(
        user_id=user.id,
        name=name,
        identifier=identifier,
        secret_sha256=_digest(secret),
        project_name=project_name,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    record(
        session,
        "token:create",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        token_id=token.id,
        name=name,
        project=project_name,
        expires=expires_at.isoformat() if expires_at else None,
    )
    return f"{TOKEN_PREFIX}{identifier}.{secret}"


def check_token(session: Session, raw: str) -> AuthenticatedToken:
    """Check a token presented by a client. Raises TokenError."""
    if not raw.startswith(TOKEN_PREFIX) or "." not in raw:
        raise TokenError("malformed token")
    identifier, _, secret = raw[len(TOKEN_PREFIX) :].partition(".")
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.identifier == identifier)
    ).one_or_none()
    if row is None:
        raise TokenError("unknown token")
    token, user = row
    if not hmac.compare_digest(token.secret_sha256, _digest(secret)):
        raise TokenError("unknown token")
    now = utcnow()
    if token.revoked_at is not None:
        raise TokenError("token revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenError("token expired")
    if not user.is_active:
        raise TokenError("user disabled")
    return AuthenticatedToken(token.id, user.id, user.username, token.project_name)
