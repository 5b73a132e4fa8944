"""API token models."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["ApiToken"]


class ApiToken(Base):
    """An API token (a macaroon). No secret is stored: the macaroon's root key is derived
    from the server's secret key and the public identifier, so a database leak reveals no
    usable token."""

    __tablename__ = "api_tokens"
    # A token belongs to a user or to a trusted publisher, never both.
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (publisher_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a trusted publisher's short-lived upload token (publisher_id is set instead).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    publisher_id: Mapped[int | None] = mapped_column(
        ForeignKey("oidc_publishers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # Public identifier carried in the macaroon; finds the row.
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    # Normalized project names the token may upload to; None means every project of the user.
    projects: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
