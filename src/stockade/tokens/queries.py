"""Reading API tokens for their owner (web UI) and for operators (CLI).

Nothing here can reveal a usable token: the database holds only the public identifier.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.db.base import utcnow
from stockade.tokens.models import ApiToken

__all__ = ["TokenView", "find_user_token", "user_tokens"]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class TokenView:
    """What may be shown about a token: never its value."""

    id: int
    name: str
    # Normalized project names; None means every project of the user.
    projects: tuple[str, ...] | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenView:
        """The view of a token row."""
        return cls(
            id=row.id,
            name=row.name,
            projects=tuple(row.projects) if row.projects is not None else None,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )

    @property
    def expired(self) -> bool:
        """Whether the token's expiry has passed."""
        return self.expires_at is not None and self.expires_at <= utcnow()

    @property
    def active(self) -> bool:
        """Whether the token can still be used (its user may still be disabled)."""
        return self.revoked_at is None and not self.expired

    def as_dict(self) -> dict[str, object]:
        """JSON form (the ``stockade token list --json`` contract)."""
        return {
            "id": self.id,
            "name": self.name,
            "scope": list(self.projects) if self.projects is not None else None,
            "created": _iso(self.created_at),
            "last_used": _iso(self.last_used_at),
            "expires": _iso(self.expires_at),
            "revoked": _iso(self.revoked_at),
        }


def user_tokens(session: Session, user_id: int) -> list[TokenView]:
    """Every token of a user, revoked ones included, newest first."""
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    )
    return [TokenView.of(row) for row in rows]


def find_user_token(session: Session, user_id: int, token_id: int) -> ApiToken | None:
    """The token ``token_id`` if it belongs to ``user_id``, else None."""
    return session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    )
