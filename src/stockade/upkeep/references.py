"""Who references a blob: the one place that knows every column holding a blob's sha256.

The orphan sweep and ``fsck`` ask only :func:`referenced`. A new kind of blob (a mirror's
cached files, say) adds its column to :data:`BLOB_REFERENCES` and is then safe from the sweep.

A soft-deleted file keeps its row (``deletion_id`` set) and so keeps its blob and its
metadata sidecar; PEP 740 provenance is stored in its own table, not as a blob.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select, union
from sqlalchemy.orm import InstrumentedAttribute, Session

from stockade.index.models import File

__all__ = ["BLOB_PREFIX", "BLOB_REFERENCES", "all_referenced", "digest_of", "referenced"]

# Every column whose value is the sha256 of a stored blob (``index.paths.blob_key``).
BLOB_REFERENCES: tuple[InstrumentedAttribute[str] | InstrumentedAttribute[str | None], ...] = (
    File.sha256_digest,  # the distribution file itself
    File.metadata_sha256,  # its PEP 658 metadata sidecar
)

BLOB_PREFIX = "blobs/sha256/"
_BLOB_KEY = re.compile(r"blobs/sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


def digest_of(key: str) -> str | None:
    """The sha256 a content-addressed key names, or None for a key of another shape."""
    match = _BLOB_KEY.fullmatch(key)
    if match is None or not match[3].startswith(match[1] + match[2]):
        return None
    return match[3]


def referenced(session: Session, digests: Iterable[str]) -> set[str]:
    """Those of ``digests`` (at most a few hundred) that some row references."""
    wanted = sorted(set(digests))
    if not wanted:
        return set()
    query = union(*(select(column).where(column.in_(wanted)) for column in BLOB_REFERENCES))
    return {row[0] for row in session.execute(query) if row[0] is not None}


def all_referenced(session: Session) -> list[str]:
    """Every digest some row references, sorted (a backup copies exactly these blobs)."""
    query = union(*(select(column).where(column.is_not(None)) for column in BLOB_REFERENCES))
    return sorted(row[0] for row in session.execute(query) if row[0] is not None)
