"""The provenance of each file (PEP 740): stored with the file at upload, looked up by the
simple pages, the project page and the ``/integrity/`` API. Verifying it is the
attestations domain's work."""

from __future__ import annotations

import datetime as dt
from typing import Any

from packaging.utils import canonicalize_name, canonicalize_version
from sqlalchemy import JSON, ForeignKey, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow
from stockade.index.models import File, Project, Release
from stockade.index.paths import provenance_path

__all__ = [
    "FileProvenance",
    "attested_file_ids_of_project",
    "provenance_for",
    "provenance_url",
    "store_provenance",
]


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


def store_provenance(session: Session, file_id: int, provenance: dict[str, Any]) -> None:
    """Keep a file's verified provenance, in the caller's (the upload's) transaction."""
    session.add(FileProvenance(file_id=file_id, provenance=provenance))


def provenance_url(project: str, version: str, filename: str) -> str:
    """The URL path of a file's provenance (relative to the site root)."""
    return provenance_path(canonicalize_name(project), version, filename)


def attested_file_ids_of_project(session: Session, project_id: int) -> set[int]:
    """Which files of this project have a provenance object.

    One statement whatever the project's size: an ``IN`` list of file ids is a new SQL string
    for every file count, and SQLite's per-connection statement cache (128 prepared statements)
    then keeps up to 128 of them, the longest ones for a big project (7 MiB per connection for a
    400-file project, measured)."""
    found = session.scalars(
        select(FileProvenance.file_id)
        .join(File, File.id == FileProvenance.file_id)
        .where(File.project_id == project_id)
    )
    return set(found)


def provenance_for(
    session: Session, project: str, version: str, filename: str
) -> dict[str, Any] | None:
    """The provenance of a live file of this project and version; None when the file is
    unknown, deleted, or was uploaded without attestations."""
    canonical = canonicalize_version(version)  # any string: invalid ones come back unchanged
    row = session.execute(
        select(FileProvenance.provenance)
        .join(File, File.id == FileProvenance.file_id)
        .join(Release, Release.id == File.release_id)
        .join(Project, Project.id == File.project_id)
        .where(
            File.filename == filename,
            File.deletion_id.is_(None),
            Release.deletion_id.is_(None),
            Release.canonical_version == canonical,
            Project.normalized_name == canonicalize_name(project),
            Project.deletion_id.is_(None),
            # PEP 792: a quarantined project serves no files, nor their provenance.
            Project.status != "quarantined",
        )
    ).one_or_none()
    return None if row is None else dict(row[0])
