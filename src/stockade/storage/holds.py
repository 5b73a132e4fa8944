"""Holds on blobs: "a writer is about to reference this key", recorded before the blob is put.

A writer (an upload) stores its blob before the transaction that references it, so for a
moment a live blob has no row pointing at it. The orphan sweep tells such a blob from a
crashed writer's leftover by its hold: the writer holds the key (a row here, committed) before
it puts the blob, and the sweep deletes an unreferenced blob only when its hold is older than
the grace period, under the hold row's lock. A writer's hold waits for that lock, so a blob is
never deleted between a writer's put (a no-op when the key exists) and its commit.

A blob with no hold at all (written before holds existed, or by hand) is given one by the
sweep the first time it is seen, so it too is deleted only a grace period later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from stockade.db import Database
from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["BlobHold", "hold_blobs"]


class BlobHold(Base):
    """A key some writer is about to reference (or the sweep first saw unreferenced) since."""

    __tablename__ = "blob_holds"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def _upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(BlobHold)


def hold_blobs(db: Database, keys: Iterable[str], *, now: dt.datetime | None = None) -> None:
    """Hold ``keys`` (refresh their holds) in a committed transaction of its own; call it
    before putting the blobs. Waits while the sweep is deciding about one of them."""
    wanted = sorted(set(keys))
    if not wanted:
        return
    since = now or utcnow()

    def unit(session: Session) -> None:
        stmt = _upsert(session).values([{"key": key, "since": since} for key in wanted])
        session.execute(
            stmt.on_conflict_do_update(index_elements=["key"], set_={"since": stmt.excluded.since})
        )

    db.run_write(unit)
