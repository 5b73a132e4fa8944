"""Single-use secrets sent by mail (email verification; later password reset): only their sha256
is stored, each expires, and each works once."""

from __future__ import annotations

import datetime as dt
import secrets
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.digests import sha256_hex
from stockade.accounts.models import AccountToken
from stockade.db.base import utcnow

__all__ = ["TokenInvalid", "TokenProblem", "issue_token", "redeem_token"]

# Longer secrets than this were never issued: refuse them before hashing.
_MAX_SECRET = 200


class TokenProblem(Enum):
    """Why a mailed link does not work."""

    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"
    WRONG_PURPOSE = "wrong_purpose"


class TokenInvalid(Exception):
    """The secret of a mailed link cannot be used; ``problem`` says why."""

    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def issue_token(
    session: Session,
    *,
    user_id: int,
    purpose: str,
    subject_id: int | None,
    lifetime: dt.timedelta,
) -> str:
    """Store a new single-use token and return its secret (for the link; never stored)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AccountToken(
            user_id=user_id,
            purpose=purpose,
            subject_id=subject_id,
            secret_sha256=sha256_hex(secret),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return secret


def redeem_token(session: Session, secret: str, *, purpose: str) -> AccountToken:
    """Use up the token with this secret and return it (locked until the transaction ends).

    Raises TokenInvalid when there is no such token, it is for something else, it expired or it
    was used already. The caller's transaction decides: if it rolls back, the token stays unused.
    """
    if not secret or len(secret) > _MAX_SECRET:
        raise TokenInvalid(TokenProblem.INVALID)
    token = session.scalar(
        select(AccountToken)
        .where(AccountToken.secret_sha256 == sha256_hex(secret))
        .with_for_update()
    )
    if token is None:
        raise TokenInvalid(TokenProblem.INVALID)
    if token.purpose != purpose:
        raise TokenInvalid(TokenProblem.WRONG_PURPOSE)
    if token.used_at is not None:
        raise TokenInvalid(TokenProblem.USED)
    now = utcnow()
    if token.expires_at <= now:
        raise TokenInvalid(TokenProblem.EXPIRED)
    token.used_at = now
    return token
