"""Attestation models: the provenance of each file."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["FileProvenance"]


class FileProvenance(Base):
    """A file's PEP 740 provenance object, verified at upload (one row per attested file).

    Written in the upload's transaction, so a file row never exists without the provenance it
    was uploaded with, nor the reverse.
    """

    __tablename__ = "file_provenance"

    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    # {"version": 1, "attestation_bundles": [{"publisher": {...}, "attestations": [...]}]}
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    verified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
