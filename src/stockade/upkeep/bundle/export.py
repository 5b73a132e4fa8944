"""``stockade export DEST``: the whole index, some projects, or what a requirements file
needs, as a bundle (:mod:`stockade.upkeep.bundle.layout`).

Everything is read in one snapshot (a read transaction; REPEATABLE READ on PostgreSQL), so
the rows and the blobs agree while the server keeps running. A whole index is every table's
rows; a selection is its projects' live releases and files (only those of the releases chosen
for a requirements file), their filename registrations, provenance (PEP 740), roles and
events, and the advisories that name them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from packaging.utils import canonicalize_name
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.advisories.models import Advisory, AdvisoryId, AdvisoryPackage, AdvisoryRecord
from stockade.db import Database
from stockade.events.models import Event
from stockade.index.models import File, FilenameRegistry, Project, Release, Role
from stockade.index.provenance import FileProvenance
from stockade.mirror.models import MirrorFile
from stockade.storage import BlobStorage
from stockade.upkeep.backup import BackupError, copy_out
from stockade.upkeep.bundle.layout import (
    BLOBS,
    ROWS,
    BundleError,
    Manifest,
    sha256_of,
    write_manifest,
    write_tar,
)
from stockade.upkeep.bundle.requirements import parse_requirements, resolve
from stockade.upkeep.portable import encode_row, export_rows, schema_revision, unmapped_tables
from stockade.upkeep.progress import Progress
from stockade.upkeep.references import all_referenced

__all__ = ["ExportSummary", "export_bundle"]


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    projects: int
    files: int
    blobs: int
    bytes: int


def _table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


class _Writer:
    def __init__(self, session: Session, out: IO[str]) -> None:
        self.session, self.out = session, out
        self.user_ids: set[int] = set()

    def rows(self, model: Any, *where: Any) -> list[dict[str, Any]]:
        table = _table(model)
        order = list(table.primary_key.columns)
        found = [
            dict(r)
            for r in self.session.execute(select(table).where(*where).order_by(*order)).mappings()
        ]
        for row in found:
            self.out.write(encode_row(table.name, row))
            for column in ("uploaded_by_id", "user_id", "actor_id"):
                if row.get(column) is not None:
                    self.user_ids.add(row[column])
        return found


def _selected(
    session: Session, projects: list[str], requirements: Path | None
) -> tuple[dict[int, set[int] | None], dict[str, Any]]:
    """The chosen projects' ids, each with the ids of its chosen releases (None: all live)."""
    chosen: dict[int, set[int] | None] = {}
    names = []
    for name in projects:
        project = session.scalar(
            select(Project).where(
                Project.normalized_name == canonicalize_name(name), Project.deletion_id.is_(None)
            )
        )
        if project is None:
            raise BundleError(f"no project named {name!r} in this index")
        chosen[project.id] = None
        names.append(project.normalized_name)
    selection: dict[str, Any] = {"kind": "selection", "projects": sorted(names)}
    if requirements is not None:
        reqs = parse_requirements(requirements)
        for project_id, release_ids in resolve(session, reqs).items():
            if project_id in chosen:
                continue  # named whole with --project
            chosen[project_id] = release_ids
        selection["requirements"] = [str(r) for r in reqs]
    return chosen, selection


def _write_selection(
    session: Session, out: IO[str], chosen: dict[int, set[int] | None]
) -> tuple[list[str], dict[int, str], int]:
    """The selection's rows; returns the digests they reference, the usernames of the user
    ids they hold and the number of files."""
    writer = _Writer(session, out)
    project_ids = sorted(chosen)
    projects = writer.rows(Project, Project.id.in_(project_ids))
    release_ids: set[int] = set()
    for project_id, wanted in chosen.items():
        live = set(
            session.scalars(
                select(Release.id).where(
                    Release.project_id == project_id, Release.deletion_id.is_(None)
                )
            )
        )
        release_ids |= live if wanted is None else live & wanted
    writer.rows(Release, Release.id.in_(sorted(release_ids)))
    # An upstream file's bytes are in storage only once fetched: the others stay out.
    stored = (
        select(File.id)
        .outerjoin(MirrorFile, MirrorFile.file_id == File.id)
        .where(
            File.release_id.in_(sorted(release_ids)),
            File.deletion_id.is_(None),
            (MirrorFile.id.is_(None)) | MirrorFile.cached,
        )
    )
    file_ids = sorted(session.scalars(stored))
    files = writer.rows(File, File.id.in_(file_ids))
    writer.rows(FilenameRegistry, FilenameRegistry.filename.in_([f["filename"] for f in files]))
    writer.rows(FileProvenance, FileProvenance.file_id.in_(file_ids))
    writer.rows(Role, Role.project_id.in_(project_ids))
    writer.rows(Event, Event.project_id.in_(project_ids))
    names = [p["normalized_name"] for p in projects]
    advisory_ids = select(AdvisoryPackage.advisory_id).where(
        AdvisoryPackage.normalized_name.in_(names)
    )
    writer.rows(Advisory, Advisory.id.in_(advisory_ids))
    writer.rows(AdvisoryRecord, AdvisoryRecord.advisory_id.in_(advisory_ids))
    writer.rows(AdvisoryId, AdvisoryId.advisory_id.in_(advisory_ids))
    writer.rows(AdvisoryPackage, AdvisoryPackage.advisory_id.in_(advisory_ids))
    digests = {f["sha256_digest"] for f in files}
    digests |= {f["metadata_sha256"] for f in files if f["metadata_sha256"] is not None}
    return sorted(digests), _usernames(session, writer.user_ids), len(files)


def _usernames(session: Session, ids: Iterable[int] | None) -> dict[int, str]:
    query = select(User.id, User.username)
    if ids is not None:
        query = query.where(User.id.in_(sorted(set(ids))))
    return {row.id: row.username for row in session.execute(query)}


def export_bundle(
    db: Database,
    storage: BlobStorage,
    dest: Path,
    *,
    projects: list[str],
    requirements: Path | None,
    progress: Progress,
) -> ExportSummary:
    """Write the bundle of the whole index (no ``projects``, no ``requirements``) or of the
    selection to ``dest``: a new (or empty) folder, or a file named ``*.tar``."""
    as_tar = dest.suffix == ".tar"
    if as_tar and dest.exists():
        raise BundleError(f"{dest} exists already")
    if not as_tar and dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BundleError(f"{dest} exists and is not an empty folder")
    if as_tar:
        dest.parent.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=".bundle-", dir=dest.parent))
    else:
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        root = dest
    try:
        summary = _export(db, storage, root, projects, requirements, progress)
        if as_tar:
            write_tar(root, dest)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    if as_tar:
        shutil.rmtree(root, ignore_errors=True)
    return summary


def _export(
    db: Database,
    storage: BlobStorage,
    root: Path,
    projects: list[str],
    requirements: Path | None,
    progress: Progress,
) -> ExportSummary:
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with (
            conn.begin(),
            Session(bind=conn) as session,
            open(root / ROWS, "w", encoding="utf-8") as out,
        ):
            schema = schema_revision(conn)
            if not projects and requirements is None:
                unmapped = unmapped_tables(conn)
                if unmapped:
                    raise BundleError(f"tables no model describes would be left out: {unmapped}")
                counts = export_rows(session, out)
                digests = all_referenced(session)
                usernames = _usernames(session, None)
                selection: dict[str, Any] = {"kind": "whole"}
                n_projects, n_files = counts.get("projects", 0), counts.get("files", 0)
            else:
                chosen, selection = _selected(session, projects, requirements)
                digests, usernames, n_files = _write_selection(session, out, chosen)
                n_projects = len(chosen)
            out.flush()
            os.fsync(out.fileno())
            progress.phase("blobs", len(digests))
            sizes = {}
            for digest in digests:
                try:
                    sizes[digest] = copy_out(storage, digest, root / BLOBS)
                except BackupError as exc:
                    raise BundleError(str(exc)) from exc
                progress.advance()
    write_manifest(
        root,
        Manifest(
            schema=schema,
            selection=selection,
            rows_sha256=sha256_of(root / ROWS),
            blobs=sizes,
            usernames=usernames,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ),
    )
    return ExportSummary(n_projects, n_files, len(sizes), sum(sizes.values()))
