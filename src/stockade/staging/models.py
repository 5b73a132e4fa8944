"""Publishing sessions: one staged release of one project version at a time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["PublishingSession", "StagedFile"]

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


# File upload session states (PEP 694); a canceled file leaves its session's ``files``.
PENDING = "pending"
COMPLETED = "completed"


class StagedFile(Base):
    """One file upload session of a publishing session. Its bytes, once received, are a
    content-addressed blob (``sha256_digest``, and the wheel's METADATA as
    ``metadata_sha256``); ``dist`` keeps what the file's metadata said, for the write at
    publish time. ``live_key`` (``<session id>:<filename>``) keeps one live upload of a
    filename per session and is cleared when the file is canceled."""

    __tablename__ = "staged_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("publishing_sessions.id", ondelete="CASCADE"), index=True
    )
    token: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    live_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    size: Mapped[int] = mapped_column(BigInteger)
    hashes: Mapped[dict[str, str]] = mapped_column(JSON)
    sha256_digest: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    blake2_256_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    md5_digest: Mapped[str | None] = mapped_column(String(32), nullable=True)
    metadata_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    dist: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    # PEP 740: the verified provenance of the attestations sent for the file, stored with the
    # file when the session is published.
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
