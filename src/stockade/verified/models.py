"""Domains a project's owners verified (a DNS TXT record), so that its URLs on them are shown
as verified."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["ProjectDomain"]


class ProjectDomain(Base):
    """A domain an owner claims for a project. It is verified while a TXT record at
    ``_stockade-verify.<domain>`` holds ``stockade-verify=<token>``; the job checks it again
    daily and drops the mark when the record is gone."""

    __tablename__ = "project_domains"
    __table_args__ = (UniqueConstraint("project_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253))
    token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the last check found, in a sentence.
    last_result: Mapped[str | None] = mapped_column(String(255), nullable=True)
