"""``stockade import bundle SRC``: a bundle verified, then stored into this index.

Before anything is written, every check is made: the manifest's shape, the schema revision
(a bundle goes into an index of the same stockade schema), the rows file and each blob against
the manifest's sha256 (and size), and every row against this version's tables. A bundle that
fails any of them is refused whole, naming what failed, and nothing is stored.

Then the blobs are held and stored (content-addressed: storing one twice is a no-op), and the
rows go in in one transaction. A whole index going into an index that holds nothing yet is
copied row for row, ids and serials included, so both serve the same bytes; anything else
is merged (:mod:`stockade.upkeep.bundle.merge`). Importing the same bundle again finds
everything there and changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, literal, select
from sqlalchemy import table as sql_table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.config import Settings
from stockade.db import Database
from stockade.index.paths import blob_key
from stockade.storage import BlobStorage
from stockade.storage.holds import hold_blobs
from stockade.upkeep.bundle.layout import (
    ROWS,
    BundleError,
    Manifest,
    blob_path,
    opened,
    read_manifest,
    sha256_of,
)
from stockade.upkeep.bundle.merge import MergeReport, merge_rows
from stockade.upkeep.portable import SEEDED, decoded_rows, import_rows, schema_revision
from stockade.upkeep.progress import Progress

__all__ = ["BundleImport", "import_bundle"]

# Blobs held per statement (each a bound parameter or two: SQLite allows some thousands).
_HOLD_BATCH = 500
# Tables whose rows are a running server's passing state, not the index: a whole copy leaves
# them out, and they do not make an index "not empty".
TRANSIENT = ("alembic_version", "blob_holds", "job_locks", "job_runs", "rate_limit_hits")


@dataclass(frozen=True)
class BundleImport:
    """What an import did: copied a whole index (``copied``: rows per table) or merged."""

    manifest: Manifest
    copied: dict[str, int] | None
    merged: MergeReport | None
    blobs: int


def _verify(root: Path, manifest: Manifest, progress: Progress) -> dict[str, list[dict[str, Any]]]:
    if sha256_of(root / ROWS) != manifest.rows_sha256:
        raise BundleError(f"{ROWS} does not match the manifest's sha256: the bundle was altered")
    progress.phase("verifying", len(manifest.blobs))
    for digest, size in sorted(manifest.blobs.items()):
        path = blob_path(root, digest)
        if not path.is_file() or path.stat().st_size != size or sha256_of(path) != digest:
            raise BundleError(
                f"the blob {blob_key(digest)} is missing or does not match its sha256 in the "
                "manifest: the bundle was altered or cut short"
            )
        progress.advance()
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    try:
        for table, row in decoded_rows(root / ROWS):
            rows[table].append(row)
    except (OSError, ValueError) as exc:
        raise BundleError(f"{ROWS}: {exc}") from exc
    if not manifest.whole:
        # A whole index may list upstream files never fetched (no bytes anywhere yet); a
        # selection carries the bytes of every file it names.
        try:
            for f in rows.get("files", []):
                for digest in (f["sha256_digest"], f["metadata_sha256"]):
                    if digest is not None and digest not in manifest.blobs:
                        raise BundleError(
                            f"{ROWS}: the file {f['filename']} has no blob in the bundle"
                        )
        except (KeyError, TypeError) as exc:
            raise BundleError(f"{ROWS}: a files row lacks {exc}") from exc
    return rows


def _holds_content(session: Session) -> bool:
    conn = session.connection()
    for table in inspect(conn).get_table_names():
        if table in TRANSIENT or table in SEEDED:
            continue
        if conn.execute(select(literal(1)).select_from(sql_table(table)).limit(1)).first():
            return True
    return False


def import_bundle(
    settings: Settings, db: Database, storage: BlobStorage, src: Path, *, progress: Progress
) -> BundleImport:
    """Verify the bundle ``src`` (a folder or a ``.tar``), then store it into this index
    (``db`` migrated to this version's schema)."""
    with opened(src, settings.tmp_dir) as root:
        manifest = read_manifest(root)
        with db.engine.connect() as conn:
            here = schema_revision(conn)
        if manifest.schema != here:
            raise BundleError(
                f"the bundle's schema is {manifest.schema!r} and this index's is {here!r}: "
                "import it with the stockade version that exported it (or upgrade both)"
            )
        rows = _verify(root, manifest, progress)
        keys = [blob_key(d) for d in sorted(manifest.blobs)]
        for start in range(0, len(keys), _HOLD_BATCH):
            hold_blobs(db, keys[start : start + _HOLD_BATCH])
        progress.phase("storing", len(keys))
        for digest in sorted(manifest.blobs):
            storage.put_file(blob_key(digest), blob_path(root, digest))
            progress.advance()
        try:
            if manifest.whole:
                copied = db.run_write(lambda s: _copy_whole(s, root))
                if copied is not None:
                    return BundleImport(manifest, copied, None, len(keys))
            blobs = set(manifest.blobs)
            merged = db.run_write(lambda s: merge_rows(s, rows, manifest.usernames, blobs))
        except (KeyError, TypeError, ValueError, IntegrityError) as exc:
            # The transaction was rolled back: the stored blobs are held, and swept later.
            raise BundleError(f"{ROWS} holds a row this index cannot take: {exc}") from exc
        return BundleImport(manifest, None, merged, len(keys))


def _copy_whole(session: Session, root: Path) -> dict[str, int] | None:
    """Every row, as it is, into an index holding nothing yet; None when it holds something."""
    if _holds_content(session):
        return None
    return import_rows(session.connection(), root / ROWS, skip=TRANSIENT)
