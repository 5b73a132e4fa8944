"""``stockade admin fsck``: check every invariant between the database, the blob store, the
rendered pages and the spool folder, and repair what can be repaired.

The invariants:

1. every file row has its blob, whose bytes hash to the row's sha256 (and its metadata
   sidecar, to ``metadata_sha256``), read by streaming;
2. every blob belongs to a row (:mod:`stockade.upkeep.references`), or is held by an upload
   in flight (younger than the grace period); the store holds nothing but blobs;
3. every project's stored simple pages are what rendering it from the database gives now, and
   a deleted project has none;
4. no spool file is older than ``spool_max_age``.

Repairs: orphan blobs are deleted (under the sweep's lock, :func:`sweep.sweep_one`), stale
pages re-rendered and journalled (so every worker's cache follows), stale spools removed. A
missing or corrupt blob cannot be repaired from here: its bytes are gone (restore a backup).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stockade.config import Settings
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.index.models import File, Project, SimplePage
from stockade.index.paths import blob_key
from stockade.index.render import render_project_html, render_project_json
from stockade.index.state import journal, load_state, rerender
from stockade.storage import BlobNotFound, BlobStorage
from stockade.storage.holds import BlobHold
from stockade.upkeep.progress import Progress, Silent
from stockade.upkeep.references import digest_of, stored_select
from stockade.upkeep.spool import clean_spools, stale_spools
from stockade.upkeep.sweep import orphan_digests, sweep_one

__all__ = ["FsckReport", "Problem", "fsck"]

_CHUNK = 1024 * 1024


@dataclass
class Problem:
    """One broken invariant: its kind, what it is about, a sentence, and whether repaired."""

    kind: str
    subject: str
    message: str
    repaired: bool = False


@dataclass
class FsckReport:
    """What was checked (counts by kind) and what was wrong."""

    checked: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every invariant holds (every problem found was repaired)."""
        return all(p.repaired for p in self.problems)

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "problems": [asdict(p) for p in self.problems],
        }


def fsck(
    settings: Settings,
    db: Database,
    storage: BlobStorage,
    *,
    repair: bool = False,
    progress: Progress | None = None,
) -> FsckReport:
    """Check every invariant (see the module); with ``repair``, mend what can be mended."""
    progress = progress or Silent()
    report = FsckReport()
    _check_files(db, storage, report, progress)
    _check_blobs(settings, db, storage, report, progress, repair=repair)
    _check_pages(db, report, progress, repair=repair)
    _check_spools(settings, report, progress, repair=repair)
    return report


def _hash_blob(storage: BlobStorage, key: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in storage.iter_range(key, chunk_size=_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _check_blob(
    storage: BlobStorage, report: FsckReport, what: str, subject: str, sha256: str
) -> None:
    key = blob_key(sha256)
    try:
        actual, _size = _hash_blob(storage, key)
    except BlobNotFound:
        report.problems.append(
            Problem(f"missing-{what}", subject, f"the {what} of {subject} is missing ({key})")
        )
        return
    if actual != sha256:
        report.problems.append(
            Problem(
                f"corrupt-{what}",
                subject,
                f"the {what} of {subject} is corrupt: its bytes hash to {actual}, not {sha256}",
            )
        )


def _check_files(
    db: Database, storage: BlobStorage, report: FsckReport, progress: Progress
) -> None:
    with db.read() as session:
        total = int(session.scalar(select(func.count(File.id))) or 0)
        rows = session.execute(stored_select()).all()
    progress.phase("files and their blobs", total)
    sidecars = 0
    for filename, sha256, metadata_sha256, blob_stored, sidecar_stored in rows:
        # An upstream file's bytes are stored only once someone downloads it.
        if blob_stored:
            _check_blob(storage, report, "blob", filename, sha256)
        if metadata_sha256 is not None and sidecar_stored:
            sidecars += 1
            _check_blob(storage, report, "metadata", filename, metadata_sha256)
        progress.advance()
    report.checked["files"] = total
    report.checked["metadata sidecars"] = sidecars


def _check_blobs(
    settings: Settings,
    db: Database,
    storage: BlobStorage,
    report: FsckReport,
    progress: Progress,
    *,
    repair: bool,
) -> None:
    progress.phase("blobs referenced by a row", None)
    now = utcnow()
    grace = dt.timedelta(seconds=settings.orphan_grace)
    stored = 0

    def listed() -> Iterator[str]:
        nonlocal stored
        for key in storage.iter_keys():
            if digest_of(key) is None:
                report.problems.append(
                    Problem("stray-key", key, f"the store holds {key}, which is not a blob's key")
                )
                continue
            stored += 1
            progress.advance()
            yield key

    orphans = list(orphan_digests(db, listed()))
    with db.read() as session:
        held = set(session.scalars(select(BlobHold.key).where(BlobHold.since > now - grace)))
    in_flight = 0
    for digest in orphans:
        key = blob_key(digest)
        if key in held:
            in_flight += 1  # an upload about to commit it (or one the sweep just met)
            continue
        problem = Problem("orphan-blob", key, f"the blob {key} belongs to no file")
        if repair:
            deleted = sweep_one(db, storage, digest, grace=grace, now=now, unheld_is_stale=True)
            problem.repaired = deleted is not False
        report.problems.append(problem)
    report.checked["stored blobs"] = stored
    report.checked["blobs in flight"] = in_flight


def _check_pages(db: Database, report: FsckReport, progress: Progress, *, repair: bool) -> None:
    with db.read() as session:
        ids = list(session.scalars(select(Project.id).order_by(Project.id)))
    progress.phase("simple pages", len(ids))
    for project_id in ids:
        with db.read() as session:
            stale = _page_problem(session, project_id)
        if stale is not None and repair:
            with db.write() as session:
                project = session.get(Project, project_id)
                if project is not None:
                    journal(
                        session, project, "pages re-rendered by fsck", version=None, user_id=None
                    )
                    rerender(session, project)
                    stale.repaired = True
        if stale is not None:
            report.problems.append(stale)
        progress.advance()
    report.checked["projects"] = len(ids)


def _page_problem(session: Session, project_id: int) -> Problem | None:
    project = session.get(Project, project_id)
    if project is None:
        return None
    page = session.get(SimplePage, project_id)
    name = project.normalized_name
    if project.deletion_id is not None:
        if page is None:
            return None
        return Problem("stale-page", name, f"the deleted project {name} still has a page")
    if page is None:
        return Problem("missing-page", name, f"the project {name} has no simple page")
    state = load_state(session, project)
    if (
        page.serial != project.last_serial
        or page.html != render_project_html(state)
        or page.json != render_project_json(state)
    ):
        return Problem("stale-page", name, f"the simple page of {name} does not match its files")
    return None


def _check_spools(
    settings: Settings, report: FsckReport, progress: Progress, *, repair: bool
) -> None:
    stale = stale_spools(settings, older_than=settings.spool_max_age)
    progress.phase("spool folder", len(stale))
    removed = (
        {s.path for s in clean_spools(settings, older_than=settings.spool_max_age)}
        if repair
        else set()
    )
    for spool in stale:
        report.problems.append(
            Problem(
                "stale-spool",
                spool.path.name,
                f"the spool {spool.path} ({spool.size} bytes) was left {spool.age:.0f} s ago",
                repaired=spool.path in removed,
            )
        )
        progress.advance()
    report.checked["stale spools"] = len(stale)
