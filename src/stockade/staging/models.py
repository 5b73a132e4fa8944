"""Publishing sessions: one staged release of one project version at a time."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["PublishingSession"]

OPEN = "open"
PUBLISHED = "published"
CANCELED = "canceled"
ERROR = "error"
# States in which the session holds its name and version (at most one such session each).
LIVE_STATES = (OPEN, ERROR)


class PublishingSession(Base):
    """A staged release. ``live_key`` (``name==version``) is set while the session is open or in
    error and cleared once it is published or canceled: its unique constraint is what keeps a
    second live session for the same release out, even between racing requests."""

    __tablename__ = "publishing_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    normalized_name: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(255))
    canonical_version: Mapped[str] = mapped_column(String(255))
    live_key: Mapped[str | None] = mapped_column(String(600), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
