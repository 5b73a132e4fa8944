"""Who references a blob: the one place that knows every column holding a blob's sha256.

The orphan sweep and ``fsck`` ask only :func:`referenced`. A new kind of blob adds its column to
:data:`BLOB_REFERENCES` and is then safe from the sweep.

A file an upstream index lists (``mirror_files``) has its ``files`` row, and so its digests, from
the first refresh, but its bytes are stored only once someone downloads it: :func:`stored`
tells which rows' blobs must be in storage (``fsck``, backups), and :func:`all_referenced` leaves
out the blobs of upstream files not fetched yet.

A soft-deleted file keeps its row (``deletion_id`` set) and so keeps its blob and its
metadata sidecar; PEP 740 provenance is stored in its own table, not as a blob.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import ColumnElement, CompoundSelect, Select, or_, select, union
from sqlalchemy.orm import InstrumentedAttribute, Session

from stockade.index.held import HeldFile
from stockade.index.models import File
from stockade.mirror.models import MirrorFile
from stockade.staging.models import StagedFile

__all__ = [
    "BLOB_PREFIX",
    "BLOB_REFERENCES",
    "all_referenced",
    "digest_of",
    "referenced",
    "stored_select",
]

# Every column whose value is the sha256 of a stored blob (``index.paths.blob_key``).
BLOB_REFERENCES: tuple[InstrumentedAttribute[str] | InstrumentedAttribute[str | None], ...] = (
    File.sha256_digest,  # the distribution file itself
    File.metadata_sha256,  # its PEP 658 metadata sidecar
    StagedFile.sha256_digest,  # a staged (not yet published) file
    StagedFile.metadata_sha256,  # and its sidecar
    HeldFile.sha256_digest,  # a held upload (publish.regression), kept until decided
    HeldFile.metadata_sha256,  # and its sidecar
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
    """Every digest some row references and storage holds, sorted (a backup copies exactly
    these blobs): the files and sidecars of upstream files not fetched yet are not there; a
    staged file's are, so an open publishing session survives a backup and restore."""
    blob, sidecar = _stored_columns()
    query: CompoundSelect[str] = union(
        select(File.sha256_digest).outerjoin(MirrorFile, MirrorFile.file_id == File.id).where(blob),
        select(File.metadata_sha256)
        .outerjoin(MirrorFile, MirrorFile.file_id == File.id)
        .where(File.metadata_sha256.is_not(None), sidecar),
        # A staged file's bytes (and sidecar) are stored once they arrived.
        select(StagedFile.sha256_digest).where(StagedFile.sha256_digest.is_not(None)),
        select(StagedFile.metadata_sha256).where(StagedFile.metadata_sha256.is_not(None)),
        # A held upload's are stored before it is held.
        select(HeldFile.sha256_digest),
        select(HeldFile.metadata_sha256).where(HeldFile.metadata_sha256.is_not(None)),
    )
    return sorted(row[0] for row in session.execute(query) if row[0] is not None)


def stored_select() -> Select[str, str, str | None, bool, bool]:
    """Each file row's filename, digests, and whether its blob and its metadata sidecar are
    meant to be in storage (False for an upstream file not fetched yet), in file order."""
    blob, sidecar = _stored_columns()
    return (
        select(
            File.filename,
            File.sha256_digest,
            File.metadata_sha256,
            blob.label("blob_stored"),
            sidecar.label("sidecar_stored"),
        )
        .outerjoin(MirrorFile, MirrorFile.file_id == File.id)
        .order_by(File.id)
    )


def _stored_columns() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    # A local file (no mirror row) is always stored; an upstream file once fetched.
    local = MirrorFile.id.is_(None)
    return or_(local, MirrorFile.cached), or_(local, MirrorFile.metadata_cached)
