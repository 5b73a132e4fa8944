"""Reading and writing the signed metadata rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from tuf.api.metadata import Metadata, Root

from stockade.tuf.models import TufMetadata
from stockade.tuf.roles import serialize

__all__ = ["Current", "current_roles", "latest_root", "prune", "store"]

# Superseded (non-root) versions stay served this long: a client that read the previous
# timestamp a moment ago can still fetch the snapshot and bins it named.
KEEP_SUPERSEDED = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Current:
    """The newest version of one role and when it expires."""

    version: int
    expires: dt.datetime


def current_roles(session: Session) -> dict[str, Current]:
    """Every role's newest version, by role name."""
    return {
        row.role: Current(row.version, row.expires)
        for row in session.execute(
            select(TufMetadata.role, TufMetadata.version, TufMetadata.expires).where(
                TufMetadata.superseded_at.is_(None)
            )
        )
    }


def latest_root(session: Session) -> tuple[Metadata[Root], bytes] | None:
    """The newest root and its bytes, or None while TUF is off."""
    body = session.scalar(
        select(TufMetadata.body)
        .where(TufMetadata.role == Root.type)
        .order_by(TufMetadata.version.desc())
        .limit(1)
    )
    if body is None:
        return None
    return Metadata[Root].from_bytes(body), body


def store(session: Session, role: str, md: Metadata[Any], now: dt.datetime) -> bytes:
    """Add ``md`` as the newest version of ``role``; returns its bytes."""
    body = serialize(md)
    session.execute(
        update(TufMetadata)
        .where(TufMetadata.role == role, TufMetadata.superseded_at.is_(None))
        .values(superseded_at=now)
    )
    session.add(
        TufMetadata(
            role=role,
            version=md.signed.version,
            body=body,
            expires=md.signed.expires,
            created_at=now,
        )
    )
    return body


def prune(session: Session, now: dt.datetime) -> None:
    """Forget superseded versions no client can still be in the middle of (roots stay: a
    client walks every version of root from the one it trusts)."""
    session.execute(
        delete(TufMetadata).where(
            TufMetadata.role != Root.type, TufMetadata.superseded_at < now - KEEP_SUPERSEDED
        )
    )
