"""Abuse models: malware reports, trusted reporters, prohibited names.

A project's look-alike form lives on the project itself (``projects.ultranormalized_name``,
see :func:`stockade.index.names.ultranormalize`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["ProhibitedName", "Report", "TrustedReporter"]

REPORT_OPEN = "open"
REPORT_RESOLVED = "resolved"


class Report(Base):
    """A user's report that a project (or one release of it) is malicious."""

    __tablename__ = "abuse_reports"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        CheckConstraint("via IN ('web', 'api')", name="via"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # The release reported, as the reporter named it (None: the whole project).
    version: Mapped[str | None] = mapped_column(String(255))
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default=REPORT_OPEN, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # quarantined-then-cleared ("cleared"), "removed", or "dismissed".
    resolution: Mapped[str | None] = mapped_column(String(20))


class TrustedReporter(Base):
    """An account whose reports an administrator trusts enough to quarantine automatically.

    One row per account: the primary key is the invariant."""

    __tablename__ = "trusted_reporters"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ProhibitedName(Base):
    """A name no new project may take (its look-alikes neither). Existing projects keep it."""

    __tablename__ = "prohibited_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    normalized_name: Mapped[str] = mapped_column(String(255), unique=True)
    ultranormalized_name: Mapped[str] = mapped_column(String(255), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
