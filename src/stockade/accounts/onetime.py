"""Single-use secrets sent by mail (email verification, password reset, login confirmation):
only their sha256 is stored, each expires, and each works once."""

from __future__ import annotations

import datetime as dt
import secrets
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.digests import sha256_hex
from stockade.accounts.models import AccountToken
from stockade.db.base import utcnow

__all__ = ["TokenInvalid", "TokenProblem", "check_token", "issue_token", "redeem_token"]

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


def check_token(session: Session, secret: str, *, purpose: str, lock: bool = False) -> AccountToken:
    """The token with this secret, still usable for ``purpose``, without using it up (with
    ``lock``, its row is locked until the transaction ends).

    Raises TokenInvalid when there is no such token, it is for something else, it was used
    already or it expired (checked in that order).
    """
    if not secret or len(secret) > _MAX_SECRET:
        raise TokenInvalid(TokenProblem.INVALID)
    query = select(AccountToken).where(AccountToken.secret_sha256 == sha256_hex(secret))
    if lock:
        query = query.with_for_update()
    token = session.scalar(query)
    if token is None:
        raise TokenInvalid(TokenProblem.INVALID)
    if token.purpose != purpose:
        raise TokenInvalid(TokenProblem.WRONG_PURPOSE)
    if token.used_at is not None:
        raise TokenInvalid(TokenProblem.USED)
    if token.expires_at <= utcnow():
        raise TokenInvalid(TokenProblem.EXPIRED)
    return token


def redeem_token(session: Session, secret: str, *, purpose: str) -> AccountToken:
    """Use up the token with this secret and return it (locked until the transaction ends).

    Raises TokenInvalid as ``check_token`` does. The caller's transaction decides: if it rolls
    back, the token stays unused.
    """
    token = check_token(session, secret, purpose=purpose, lock=True)
    token.used_at = utcnow()
    return token
