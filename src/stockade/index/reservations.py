"""Project names held for a first release that is being staged (PEP 694: "the index MUST
reserve the project name when the session is created").

A reservation is a row per name (:class:`~stockade.index.models.NameReservation`) whose
holder alone may create the project until it expires. Creating a session and creating a
project both take :func:`lock_name` first, so on PostgreSQL a legacy upload creating the
project and a session reserving its name cannot both pass their checks; SQLite serializes
writers anyway.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from stockade.db.base import utcnow
from stockade.index.models import NameReservation

__all__ = ["holder", "lock_name", "release", "reserve"]

# First key of the two-key pg_advisory_xact_lock for names ("name" in ASCII).
_NAME_LOCK_CLASS = 0x6E616D65


def lock_name(session: Session, normalized_name: str) -> None:
    """Serialize, until the transaction ends, every write that creates or reserves this name."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:cls, hashtext(:name))"),
            {"cls": _NAME_LOCK_CLASS, "name": normalized_name},
        )


def holder(session: Session, normalized_name: str) -> int | None:
    """The user holding the name now (None: nobody, or the reservation has expired)."""
    row = session.get(NameReservation, normalized_name)
    if row is None or row.expires_at <= utcnow():
        return None
    return row.user_id


def reserve(session: Session, normalized_name: str, user_id: int, until: dt.datetime) -> None:
    """Hold the name for ``user_id`` until ``until`` (or later, if they hold it longer
    already). An expired reservation of someone else's passes to them; the caller has checked
    that nobody else holds the name now."""
    row = session.get(NameReservation, normalized_name)
    if row is None:
        row = NameReservation(normalized_name=normalized_name, user_id=user_id, expires_at=until)
        session.add(row)
    elif row.user_id != user_id:
        row.user_id, row.expires_at = user_id, until
    else:
        row.expires_at = max(row.expires_at, until)
    session.flush()


def release(session: Session, normalized_name: str, until: dt.datetime | None = None) -> None:
    """Shorten the reservation to ``until`` (the expiry of its holder's sessions still
    open), or drop it (None: no session holds it any more, or the project exists now)."""
    row = session.get(NameReservation, normalized_name)
    if row is None:
        return
    if until is None:
        session.delete(row)
    else:
        row.expires_at = until
    session.flush()
