"""What the web app serves: metadata files by name, and pages as the metadata signed them."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from tuf.api.metadata import Timestamp

from stockade.tuf.models import TufMetadata, TufTarget

__all__ = ["metadata_file", "signed_page"]

_VERSIONED = re.compile(r"([1-9][0-9]{0,18})\.([a-z0-9-]{1,64})\.json")


def metadata_file(session: Session, name: str) -> bytes | None:
    """The bytes of ``timestamp.json`` (the newest) or ``<version>.<role>.json``; None when
    there is no such file."""
    if name == "timestamp.json":
        return session.scalar(
            select(TufMetadata.body)
            .where(TufMetadata.role == Timestamp.type)
            .order_by(TufMetadata.version.desc())
            .limit(1)
        )
    match = _VERSIONED.fullmatch(name)
    if match is None:
        return None
    row = session.get(TufMetadata, (match[2], int(match[1])))
    return None if row is None else row.body


def signed_page(session: Session, path: str) -> bytes | None:
    """A page target's bytes exactly as the newest metadata lists them (``simple/<name>/
    index.html`` or ``index.json``); None when it is no target."""
    return session.scalar(select(TufTarget.body).where(TufTarget.path == path))
