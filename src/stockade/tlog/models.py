"""The transparency log's tables: its entries, the hashes of its perfect subtrees, each file's
last logged state, and one row with the log's size and right edge."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Integer, LargeBinary, String, true
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["LogEntry", "LogFile", "LogNode", "LogState"]

_INDEX = BigInteger().with_variant(Integer, "sqlite")


class LogState(Base):
    """The one row (id 1) every appender locks: the log's size and the hashes of the perfect
    subtrees along its right edge (32 bytes each, largest first), from which the root and the
    next append follow without reading the tree."""

    __tablename__ = "tlog_state"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    size: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogEntry(Base):
    """Entry ``idx`` of the log: its bytes (canonical JSON), never changed once written."""

    __tablename__ = "tlog_entries"

    idx: Mapped[int] = mapped_column(_INDEX, primary_key=True, autoincrement=False)
    filename: Mapped[str] = mapped_column(String(512), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LogNode(Base):
    """The hash of the perfect subtree ``idx`` at ``level`` (level 0: the leaves), stored once
    the subtree is complete."""

    __tablename__ = "tlog_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LogFile(Base):
    """A file's state as the log last recorded it (the letters of ``flags``: d deleted,
    q quarantined, y yanked) and the index of that entry: what a change is compared with."""

    __tablename__ = "tlog_files"

    filename: Mapped[str] = mapped_column(String(512), primary_key=True)
    flags: Mapped[str] = mapped_column(String(8))
    last_index: Mapped[int] = mapped_column(BigInteger)
