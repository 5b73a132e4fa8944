"""Held files: uploads that broke their project's provenance pattern (``publish.regression``),
stored but kept out of the index until an owner confirms them with a second factor.

A held file's blob (and its METADATA sidecar) is stored like any upload's and referenced from
here (``upkeep.references``), but it has no ``files`` row: nothing that lists a project's
files (the simple pages, the JSON API, the project page, views, downloads) can see it. An
owner's confirmation writes it through the upload's own write transaction, as a staged
release is published. ``live_filename`` is set while the file is held: its unique constraint
keeps one held upload per filename, even between racing requests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["CONFIRMED", "HELD", "HeldFile"]

HELD = "held"
CONFIRMED = "confirmed"


class HeldFile(Base):
    """One held upload: what the write transaction needs to add it later, and why it waits."""

    __tablename__ = "held_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(255))
    canonical_version: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    live_filename: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=HELD)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256_digest: Mapped[str] = mapped_column(String(64), index=True)
    blake2_256_digest: Mapped[str] = mapped_column(String(64))
    md5_digest: Mapped[str] = mapped_column(String(32))
    metadata_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    comment_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    # PEP 740: the verified provenance of the attestations sent with it, if any.
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The rule it broke ("trusted-publishing", "attestations", "publisher") and in words.
    rule: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    # Who uploaded it: the token's user (0 for a trusted publisher) and the token.
    uploader_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    uploader_name: Mapped[str] = mapped_column(String(255), default="")
    token_id: Mapped[int | None] = mapped_column(nullable=True)
    publisher_id: Mapped[int | None] = mapped_column(nullable=True)
    held_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
