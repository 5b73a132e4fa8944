"""Download statistics and the daily security snapshots (see stockade.stats.counts)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = [
    "DownloadCount",
    "DownloadTotal",
    "DownloadWindow",
    "IngestedLog",
    "SecuritySnapshot",
]


class DownloadCount(Base):
    """Full downloads of one project's files of one type on one day (UTC)."""

    __tablename__ = "download_counts"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    packagetype: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True, index=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class DownloadTotal(Base):
    """A project's downloads over the rolling window that ``DownloadWindow`` starts: kept up
    to date as counts arrive, so ranking projects reads one row per project."""

    __tablename__ = "download_totals"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    window_total: Mapped[int] = mapped_column(BigInteger, default=0, index=True)


class DownloadWindow(Base):
    """The one row saying which day the window totals start at (older days were subtracted)."""

    __tablename__ = "download_window"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_day: Mapped[dt.date] = mapped_column(Date)


class IngestedLog(Base):
    """A log file whose downloads were counted (by its content), so it is never counted twice."""

    __tablename__ = "ingested_logs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(1024))
    log_format: Mapped[str] = mapped_column(String(10))
    downloads: Mapped[int] = mapped_column(BigInteger)
    ingested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SecuritySnapshot(Base):
    """The security dashboard's figures as they were on one day."""

    __tablename__ = "security_snapshots"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    users: Mapped[int] = mapped_column(Integer)
    users_2fa: Mapped[int] = mapped_column(Integer)
    users_totp: Mapped[int] = mapped_column(Integer)
    users_webauthn: Mapped[int] = mapped_column(Integer)
    critical_projects: Mapped[int] = mapped_column(Integer)
    critical_maintainers: Mapped[int] = mapped_column(Integer)
    critical_maintainers_2fa: Mapped[int] = mapped_column(Integer)
    projects_requiring_2fa: Mapped[int] = mapped_column(Integer)
    uploads_trusted_publishing_pct: Mapped[float] = mapped_column(Float)
    uploads_attested_pct: Mapped[float] = mapped_column(Float)
    # Uploads held for breaking their project's provenance pattern: waiting, and confirmed.
    held_files: Mapped[int] = mapped_column(Integer, server_default="0")
    held_files_confirmed: Mapped[int] = mapped_column(Integer, server_default="0")
    taken_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
