"""What the database learns once an upstream blob is in our storage.

``record_stored`` is the ``BlobFetcher``'s ``on_stored`` hook. In one small transaction it
marks every mirror file with that sha256 cached (blobs are content-addressed: the same bytes
from two upstreams are one blob), marks the PEP 658 sidecars with that sha256 cached, and
fills the index rows' md5 and blake2 digests (and a size upstream did not give).

A wheel whose upstream gave no core-metadata hash gets its metadata read from the verified
wheel (``.dist-info/METADATA``, as PyPI does), stored as a blob, and announced: the file row's
``metadata_sha256`` is set and the project's pages are re-rendered, as for any change.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from packaging.utils import canonicalize_name
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stockade.db import Database
from stockade.dists import DEFAULT_LIMITS, DistError, parse_filename
from stockade.dists.archives import WheelArchive
from stockade.index.models import File, Project
from stockade.index.paths import blob_key
from stockade.index.state import journal, rerender
from stockade.mirror.fetch import StoredBlob
from stockade.mirror.models import MirrorFile
from stockade.storage import BlobStorage

__all__ = ["record_stored", "wheel_metadata"]

log = logging.getLogger(__name__)

# Journal action for metadata read from a cached wheel: it only adds to the page.
METADATA_ACTION = "add core metadata"


def record_stored(db: Database, storage: BlobStorage, stored: StoredBlob) -> str | None:
    """Record that ``stored`` is in storage (see the module docstring); returns the normalized
    name of the project whose pages changed (the caller invalidates its cached pages), if any."""
    metadata = _synthesize(db, storage, stored)
    with db.write() as session:
        session.execute(
            update(MirrorFile).where(MirrorFile.sha256 == stored.sha256).values(cached=True)
        )
        session.execute(
            update(MirrorFile)
            .where(MirrorFile.core_metadata_sha256 == stored.sha256)
            .values(metadata_cached=True)
        )
        row = session.scalars(select(File).where(File.sha256_digest == stored.sha256)).first()
        if row is None:
            return None
        if stored.md5 is not None and not row.md5_digest:
            row.md5_digest = stored.md5
        if stored.blake2_256 is not None and not row.blake2_256_digest:
            row.blake2_256_digest = stored.blake2_256
        page_changed = False
        if not row.size:
            row.size = stored.size
            page_changed = True
        if metadata is not None and row.metadata_sha256 is None:
            row.metadata_sha256 = metadata
            session.execute(
                update(MirrorFile).where(MirrorFile.file_id == row.id).values(metadata_cached=True)
            )
            page_changed = True
        if not page_changed or row.deletion_id is not None:
            return None
        return _bump(session, row)


def _bump(session: Session, row: File) -> str | None:
    project = session.get(Project, row.project_id)
    if project is None:
        return None
    journal(session, project, METADATA_ACTION, version=row.release.version, user_id=None)
    rerender(session, project)
    return project.normalized_name


def _synthesize(db: Database, storage: BlobStorage, stored: StoredBlob) -> str | None:
    """Store the wheel's METADATA when the page announces none yet; returns its sha256."""
    with db.read() as session:
        wanted = session.execute(
            select(File.filename)
            .join(MirrorFile, MirrorFile.file_id == File.id)
            .where(
                File.sha256_digest == stored.sha256,
                File.metadata_sha256.is_(None),
                MirrorFile.core_metadata_sha256.is_(None),
            )
        ).first()
    if wanted is None or not wanted.filename.endswith(".whl"):
        return None
    path = stored.path or storage.local_path(blob_key(stored.sha256))
    if path is None:  # another worker fetched it into S3 and read its metadata then
        return None
    try:
        data = wheel_metadata(path, wanted.filename)
    except DistError as exc:
        log.warning("mirror: no core metadata for %s: %s", wanted.filename, exc)
        return None
    sha256 = hashlib.sha256(data).hexdigest()
    storage.put_bytes(blob_key(sha256), data)
    return sha256


def wheel_metadata(path: Path, filename: str) -> bytes:
    """The exact bytes of a wheel's ``<name>-<version>.dist-info/METADATA``; DistError if the
    wheel has none, or more than one ``.dist-info`` directory for its project."""
    info = parse_filename(filename)
    with WheelArchive(path, DEFAULT_LIMITS) as archive:
        candidates = [
            name
            for name in archive.names
            if name.count("/") == 1
            and name.endswith(".dist-info/METADATA")
            and canonicalize_name(name.split("/")[0].removesuffix(".dist-info").rpartition("-")[0])
            == info.normalized_name
        ]
        if len(candidates) != 1:
            raise DistError(f"Wheel '{filename}' has {len(candidates)} METADATA files, not one")
        return archive.read(candidates[0])
