"""Advisory models: the merged advisory, the records it was merged from, the ids and aliases
that name it, the packages it affects (matched on read), and the owners' notices."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["Advisory", "AdvisoryId", "AdvisoryNotice", "AdvisoryPackage", "AdvisoryRecord"]


class Advisory(Base):
    """One vulnerability, whatever number of records (PYSEC, GHSA …) it was merged from.

    ``document`` is the OSV document served by ``/v1/vulns/<id>``: the primary record with the
    aliases of every record and the affected packages of every live record.
    """

    __tablename__ = "advisories"

    id: Mapped[int] = mapped_column(primary_key=True)
    osv_id: Mapped[str] = mapped_column(String(255), unique=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)
    published: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    modified: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Set when every record it was merged from is withdrawn: it then matches nothing.
    withdrawn: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Deferred: matching and querybatch need only the id and the timestamps.
    document: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdvisoryRecord(Base):
    """One advisory document as imported, by its own id: what ``modified`` compares against."""

    __tablename__ = "advisory_records"

    osv_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    advisory_id: Mapped[int] = mapped_column(
        ForeignKey("advisories.id", ondelete="CASCADE"), index=True
    )
    modified: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    withdrawn: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # sha256 of the canonical JSON of the document.
    digest: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdvisoryId(Base):
    """Every id and alias of every record, naming the one advisory they were merged into."""

    __tablename__ = "advisory_ids"

    alias: Mapped[str] = mapped_column(String(255), primary_key=True)
    advisory_id: Mapped[int] = mapped_column(
        ForeignKey("advisories.id", ondelete="CASCADE"), index=True
    )


class AdvisoryPackage(Base):
    """One PyPI package an advisory affects: its versions and ECOSYSTEM ranges."""

    __tablename__ = "advisory_packages"

    id: Mapped[int] = mapped_column(primary_key=True)
    advisory_id: Mapped[int] = mapped_column(
        ForeignKey("advisories.id", ondelete="CASCADE"), index=True
    )
    # PEP 503 normalized: what every lookup uses.
    normalized_name: Mapped[str] = mapped_column(String(255), index=True)
    # Exact affected versions, as the advisory spells them.
    versions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Each ECOSYSTEM range's events: [{"introduced": "0"}, {"fixed": "1.2"}, …].
    ranges: Mapped[list[list[dict[str, str]]]] = mapped_column(JSON, default=list)


class AdvisoryNotice(Base):
    """An advisory matched a project and its owners were told (once)."""

    __tablename__ = "advisory_notices"

    advisory_id: Mapped[int] = mapped_column(
        ForeignKey("advisories.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
