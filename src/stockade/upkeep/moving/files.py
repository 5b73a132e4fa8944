"""Importing distribution files that lie on disk, each validated as an upload would be.

Every file goes through the upload's own checks (:mod:`stockade.dists` for the archive and
its metadata, those of :func:`stockade.publish.checks.check_upload` for the owner's role, the
same file or filename before, the lifecycle, the name rules and the limits), as the user who is
to own it. A file already in the index (same name, same bytes) is skipped, so a second run does only
what the first did not finish: each batch commits on its own.

For speed the work goes by batches of files sorted by project: the files are read and hashed,
their blobs held and stored (in threads: a store's put waits on the disk or the network),
then one write transaction checks and writes every row of the batch, journals each project's
changes at once (:func:`stockade.index.state.journal_many`) and renders each project's pages
once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.config import Settings
from stockade.db import Database
from stockade.dists import ArchiveLimits, DistError, DistInfo, inspect_distribution, parse_filename
from stockade.dists.readme import render_refusal
from stockade.events.services import Origin, record
from stockade.index.models import File, FilenameRegistry, Project, Release
from stockade.index.paths import blob_key
from stockade.index.projects import create_project
from stockade.index.state import journal_many, rerender
from stockade.publish.checks import check_file, check_uploader, release_key, upload_target
from stockade.publish.errors import UploadError
from stockade.publish.form import UploadedFile
from stockade.publish.upload import add_file, new_release
from stockade.storage import BlobStorage
from stockade.storage.holds import hold_blobs
from stockade.tokens.services import AuthenticatedToken
from stockade.upkeep.progress import Progress

__all__ = [
    "DIST_SUFFIXES",
    "Candidate",
    "ImportReport",
    "MoveError",
    "import_files",
    "is_distribution_name",
]

# What a distribution's file name ends with (wheels, sdists, and the old sdist archives
# pypiserver folders still hold).
DIST_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar")
_BATCH = 256
_THREADS = 8
_HASH_CHUNK = 1024 * 1024


class MoveError(Exception):
    """The import cannot start; the message says why."""


def is_distribution_name(name: str) -> bool:
    """Whether a file name looks like a distribution's (anything else in a folder is left)."""
    return not name.startswith(".") and name.lower().endswith(DIST_SUFFIXES)


@dataclass(frozen=True)
class Candidate:
    """A file to import: where it lies, the user who is to own its project, when it was
    uploaded (None: now), and the sha256 its source promised (None: none promised)."""

    path: Path
    owner: str
    uploaded_at: dt.datetime | None = None
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass
class ImportReport:
    """What an import did with each file."""

    imported: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    projects: set[str] = field(default_factory=set)

    def merge(self, other: ImportReport) -> None:
        self.imported += other.imported
        self.present += other.present
        self.refused += other.refused
        self.projects |= other.projects


@dataclass
class _Ready:
    """A file read, hashed and validated, waiting for its rows."""

    candidate: Candidate
    upload: UploadedFile
    dist: DistInfo
    metadata_sha256: str | None


def mtime_of(path: Path) -> dt.datetime:
    """A file's modification time, as the upload time of a file from a folder."""
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def _hashed(path: Path) -> UploadedFile:
    sha256, blake2, md5 = (
        hashlib.sha256(),
        hashlib.blake2b(digest_size=32),
        hashlib.md5(usedforsecurity=False),
    )
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            sha256.update(chunk)
            blake2.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return UploadedFile(
        path=path,
        filename=path.name,
        size=size,
        sha256=sha256.hexdigest(),
        blake2_256=blake2.hexdigest(),
        md5=md5.hexdigest(),
    )


def _sort_key(candidate: Candidate) -> tuple[str, str]:
    try:
        name = str(parse_filename(candidate.filename).name)
    except DistError:
        name = candidate.filename
    return canonicalize_name(name), candidate.filename


def import_files(
    settings: Settings,
    db: Database,
    storage: BlobStorage,
    candidates: Iterable[Candidate],
    *,
    origin: Origin,
    progress: Progress,
    via: str,
    batch_size: int = _BATCH,
) -> ImportReport:
    """Import every candidate as an upload by its owner would be; returns what happened to
    each. ``via`` names the source in each file's upload event."""
    ordered = sorted(candidates, key=_sort_key)
    owners = _owners(db, {c.owner for c in ordered})
    report = ImportReport()
    progress.phase("importing files", len(ordered))
    with ThreadPoolExecutor(_THREADS) as pool:
        for start in range(0, len(ordered), batch_size):
            chunk = ordered[start : start + batch_size]
            report.merge(_batch(settings, db, storage, pool, chunk, owners, origin, via))
            for _ in chunk:
                progress.advance()
    return report


def _owners(db: Database, names: set[str]) -> dict[str, AuthenticatedToken]:
    """Each owner as an upload's identity (no token: the operator imports on their behalf)."""
    with db.read() as session:
        users = {
            u.username: u for u in session.scalars(select(User).where(User.username.in_(names)))
        }
    missing = sorted(names - set(users))
    if missing:
        raise MoveError(f"no user named {', '.join(missing)}: create it first")
    return {
        name: AuthenticatedToken(token_id=0, user_id=u.id, username=u.username, projects=None)
        for name, u in users.items()
    }


def _batch(
    settings: Settings,
    db: Database,
    storage: BlobStorage,
    pool: ThreadPoolExecutor,
    chunk: list[Candidate],
    owners: dict[str, AuthenticatedToken],
    origin: Origin,
    via: str,
) -> ImportReport:
    report = ImportReport()
    hashed = list(pool.map(_hash_or_refusal, chunk))
    with db.read() as session:
        names = [h.filename for h in hashed if isinstance(h, UploadedFile)]
        registered = dict(
            session.execute(
                select(FilenameRegistry.filename, FilenameRegistry.sha256_digest).where(
                    FilenameRegistry.filename.in_(names)
                )
            ).all()
        )
        live = set(
            session.scalars(
                select(File.filename).where(File.filename.in_(names), File.deletion_id.is_(None))
            )
        )
    ready: list[_Ready] = []
    for candidate, upload in zip(chunk, hashed, strict=True):
        if isinstance(upload, str):
            report.refused.append((candidate.filename, upload))
        elif candidate.sha256 is not None and candidate.sha256 != upload.sha256:
            report.refused.append(
                (
                    candidate.filename,
                    f"its sha256 is {upload.sha256}, not {candidate.sha256} as its source says: "
                    "the file was changed or damaged",
                )
            )
        elif registered.get(upload.filename) == upload.sha256 and upload.filename in live:
            report.present.append(upload.filename)  # imported before: nothing to read again
        else:
            checked = _inspect(settings, candidate, upload)
            if isinstance(checked, str):
                report.refused.append((candidate.filename, checked))
            else:
                ready.append(checked)
    if not ready:
        return report
    keys = [blob_key(r.upload.sha256) for r in ready]
    keys += [blob_key(r.metadata_sha256) for r in ready if r.metadata_sha256 is not None]
    hold_blobs(db, keys)
    # The blobs are stored while the rows are checked and written; the transaction commits
    # only once every put has finished (a failed put rolls it back).
    puts = [pool.submit(_put, storage, r) for r in ready]

    def unit(session: Session) -> ImportReport:
        written = _write(session, settings, ready, owners, origin, via)
        for put in puts:
            put.result()
        return written

    for attempt in range(3):
        try:
            written = db.run_write(unit)
            break
        except IntegrityError:
            # A concurrent upload took a name or a file of this batch: check it all again.
            if attempt == 2:
                raise
    report.merge(written)
    return report


def _hash_or_refusal(candidate: Candidate) -> UploadedFile | str:
    try:
        parse_filename(candidate.filename)
        return _hashed(candidate.path)
    except DistError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"


def _inspect(settings: Settings, candidate: Candidate, upload: UploadedFile) -> _Ready | str:
    """The upload's checks of the file itself: archive, metadata, description; a refusal's
    reason as a string."""
    try:
        dist = inspect_distribution(upload.path, upload.filename, limits=ArchiveLimits())
    except DistError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    refusal = render_refusal(
        dist.metadata.get("description"),
        dist.metadata.get("description_content_type"),
        settings.description_render_seconds,
    )
    if refusal is not None:
        return refusal
    metadata_sha256 = None
    if dist.metadata_bytes is not None:
        metadata_sha256 = hashlib.sha256(dist.metadata_bytes).hexdigest()
    return _Ready(candidate, upload, dist, metadata_sha256)


def _put(storage: BlobStorage, ready: _Ready) -> None:
    storage.put_file(blob_key(ready.upload.sha256), ready.upload.path)
    if ready.dist.metadata_bytes is not None and ready.metadata_sha256 is not None:
        storage.put_bytes(blob_key(ready.metadata_sha256), ready.dist.metadata_bytes)


def _by_project(ready: list[_Ready]) -> Iterator[tuple[str, list[_Ready]]]:
    groups: dict[str, list[_Ready]] = {}
    for r in ready:
        groups.setdefault(r.dist.normalized_name, []).append(r)
    yield from groups.items()


def _write(
    session: Session,
    settings: Settings,
    ready: list[_Ready],
    owners: dict[str, AuthenticatedToken],
    origin: Origin,
    via: str,
) -> ImportReport:
    """One transaction for the batch: each file checked (as its owner's upload) and written,
    then each project's journal and pages."""
    report = ImportReport()
    seen = _Seen.read(session, ready)
    for name, files in _by_project(ready):
        project = session.scalar(
            select(Project).where(Project.normalized_name == name).with_for_update()
        )
        rows = _Rows(session, origin, via, project, seen)
        for r in files:
            token = owners[r.candidate.owner]
            try:
                project, created = rows.add(settings, project, r, token)
            except UploadError as exc:
                report.refused.append((r.upload.filename, exc.message))
                continue
            (report.imported if created else report.present).append(r.upload.filename)
        if project is not None and rows.journal:
            journal_many(session, project, rows.journal, user_id=rows.user_id)
            rerender(session, project)
            report.projects.add(project.normalized_name)
    return report


@dataclass
class _Seen:
    """The filenames and sha256 digests of a batch the index used before (read once in the
    write transaction) or the batch has added since: a file with neither needs no query
    to know it is new."""

    names: set[str]
    digests: set[str]

    @classmethod
    def read(cls, session: Session, ready: list[_Ready]) -> _Seen:
        names = [r.upload.filename for r in ready]
        digests = [r.upload.sha256 for r in ready]
        return cls(
            set(
                session.scalars(
                    select(FilenameRegistry.filename).where(FilenameRegistry.filename.in_(names))
                )
            ),
            set(session.scalars(select(File.sha256_digest).where(File.sha256_digest.in_(digests)))),
        )


class _Rows:
    """One project's new rows in a batch, and the journal entries they make."""

    def __init__(
        self, session: Session, origin: Origin, via: str, project: Project | None, seen: _Seen
    ) -> None:
        self.session, self.origin, self.via, self.seen = session, origin, via, seen
        # The project's releases, read once (a release made in the batch joins them).
        self.releases: dict[str, Release] = {}
        if project is not None:
            self.releases = {
                r.canonical_version: r
                for r in session.scalars(select(Release).where(Release.project_id == project.id))
            }
        self.journal: list[tuple[str, str | None]] = []
        self.user_id: int | None = None
        self.uploaders: set[tuple[str, int]] = set()
        self.filenames: set[str] = set()
        self.digests: set[str] = set()
        self.sdists: set[tuple[str, str]] = set()

    def add(
        self, settings: Settings, project: Project | None, r: _Ready, token: AuthenticatedToken
    ) -> tuple[Project | None, bool]:
        """Check the file as ``token``'s upload and add its rows; the project (perhaps new)
        and whether the file was added (False: it is there already). Raises UploadError."""
        session, dist, upload = self.session, r.dist, r.upload
        if project is not None and project.deletion_id is not None:
            raise UploadError(
                400,
                f"The project {project.name!r} was deleted here: restore it first "
                "(stockade admin restore) to import its files.",
            )
        target = upload_target(session, settings, token, project)
        if (dist.normalized_name, token.user_id) not in self.uploaders:
            session.flush()
            check_uploader(session, settings, token, target, dist.name)
            self.uploaders.add((dist.normalized_name, token.user_id))
        sdist_key = (dist.normalized_name, release_key(dist))
        if (
            upload.filename in self.filenames
            or upload.sha256 in self.digests
            or (dist.file.packagetype == "sdist" and sdist_key in self.sdists)
        ):
            # The same name, bytes or release's sdist earlier in this batch: the checks
            # below must see its rows.
            session.flush()
        unseen = upload.filename not in self.seen.names and upload.sha256 not in self.seen.digests
        with session.no_autoflush:
            if check_file(session, settings, token, target, dist, upload, unseen=unseen):
                return project, False
        self.filenames.add(upload.filename)
        self.digests.add(upload.sha256)
        self.seen.names.add(upload.filename)
        self.seen.digests.add(upload.sha256)
        if dist.file.packagetype == "sdist":
            self.sdists.add(sdist_key)
        if project is None:
            project = create_project(
                session,
                dist.name,
                user_id=token.user_id,
                username=token.username,
                origin=self.origin,
            )
        release = self._release(project, dist)
        add_file(
            session,
            project,
            release,
            dist,
            upload,
            r.metadata_sha256,
            uploaded_by_id=token.user_id,
            upload_time=r.candidate.uploaded_at,
        )
        record(
            session,
            "file:upload",
            origin=self.origin,
            actor_id=token.user_id,
            project_id=project.id,
            filename=upload.filename,
            version=release.version,
            sha256=upload.sha256,
            imported_from=self.via,
        )
        self.journal.append(
            (f"add {dist.file.python_version} file {upload.filename}", release.version)
        )
        self.user_id = token.user_id
        return project, True

    def _release(self, project: Project, dist: DistInfo) -> Release:
        """The file's release (the project's releases were read when the batch began), made
        when new."""
        canonical = release_key(dist)
        release = self.releases.get(canonical)
        if release is None:
            release = new_release(self.session, project, dist)
            self.journal.append(("new release", dist.version))
            self.releases[canonical] = release
        return release
