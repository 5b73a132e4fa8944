"""TUF's tables: the repository's state, every signed metadata file, and the current targets."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["TufMetadata", "TufState", "TufTarget"]


class TufState(Base):
    """One row (id 1) while TUF is on: how far the journal has been turned into metadata."""

    __tablename__ = "tuf_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The newest journal entry whose changes the published metadata reflect.
    journal_id: Mapped[int] = mapped_column(BigInteger, default=0)
    # Hashed bins: 2**bit_length bins (succinct delegation from the "bins" role).
    bit_length: Mapped[int] = mapped_column(Integer)
    # Set by a key rotation: the next batch re-signs every online role.
    resign_all: Mapped[bool] = mapped_column(default=False)


class TufMetadata(Base):
    """One signed metadata file, served at ``/tuf/<version>.<role>.json`` (``timestamp.json``
    for the newest timestamp). Superseded versions are kept a while for clients mid-update."""

    __tablename__ = "tuf_metadata"

    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    expires: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When a newer version replaced it (None: the current version).
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)


class TufTarget(Base):
    """A target as the newest metadata lists it: a file or a page, by its URL path relative to
    the base URL. A page's bytes are kept here, so ``simple/<project>/index.html`` always
    serves exactly what the metadata signed."""

    __tablename__ = "tuf_targets"

    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    project: Mapped[str] = mapped_column(String(255), index=True)
    bin: Mapped[int] = mapped_column(Integer, index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
