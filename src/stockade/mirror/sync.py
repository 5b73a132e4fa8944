"""Applying an upstream page to the index.

:func:`apply_page` records what the page says in ``mirror_files`` (new files ``held``, files
gone upstream ``removed``), then :func:`reconcile` makes the index rows agree:

- a held file that passes the origin rules and the cooldown gets its release and file rows
  (``published``): no uploader, upstream's upload time, digests filled when the blob is fetched;
- a file removed upstream has its index row soft-deleted through the lifecycle (no actor,
  reason "removed upstream by <upstream>"): the blob stays, an admin can restore it;
- yank/unyank and the PEP 792 status follow upstream through the lifecycle services, so the
  journal, the events and the re-rendered pages are those of a local change (a quarantined
  upstream project leaves the pages in the same transaction).

Everything happens in the caller's write transaction; the caller announces the names returned.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name, canonicalize_version
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.db.base import utcnow
from stockade.dists.errors import DistError
from stockade.dists.filenames import parse_filename
from stockade.events.services import Origin, record
from stockade.index.models import File, FilenameRegistry, Project, Release
from stockade.index.state import journal, journal_many, rerender
from stockade.lifecycle.deletion import delete_file
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.restoration import restore
from stockade.lifecycle.status import STATUSES, set_status
from stockade.lifecycle.yanking import unyank, yank
from stockade.mirror.models import (
    FILE_HELD,
    FILE_PUBLISHED,
    FILE_REMOVED,
    PROJECT_MISSING,
    PROJECT_OK,
    MirrorFile,
    MirrorProject,
    MirrorUpstream,
)
from stockade.mirror.rules import exemptions_of, is_local, is_mature, upstream_allowed
from stockade.mirror.upstream import PageResult, UpstreamFile

__all__ = ["MIRROR_ORIGIN", "SyncReport", "apply_page", "reconcile", "reconcile_name"]

log = logging.getLogger(__name__)

MIRROR_ORIGIN = Origin(ip_address=None, user_agent="stockade-mirror")


@dataclass
class SyncReport:
    """What one sync changed."""

    published: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    held: int = 0
    yanked: list[str] = field(default_factory=list)
    unyanked: list[str] = field(default_factory=list)
    status: str | None = None
    skipped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.published or self.removed or self.yanked or self.unyanked or self.status)


def apply_page(
    session: Session,
    upstream: MirrorUpstream,
    mp: MirrorProject,
    result: PageResult,
    *,
    now: dt.datetime | None = None,
) -> SyncReport:
    """Record a fetch's result for ``mp`` and reconcile the index with it."""
    now = now or utcnow()
    mp.checked_at = now
    mp.fetched_at = now
    mp.last_error = None
    if result.serial is not None:
        mp.upstream_serial = result.serial
    if result.outcome == "missing":
        mp.status = PROJECT_MISSING
        mp.etag = None
        for f in _files_of(session, mp):
            if f.state != FILE_REMOVED:
                f.state, f.updated_at = FILE_REMOVED, now
        return reconcile(session, upstream, mp, now=now)
    mp.status = PROJECT_OK
    if result.etag:
        mp.etag = result.etag
    page = result.page
    if page is None:  # not modified: only the cooldown can have moved
        return reconcile(session, upstream, mp, now=now)
    # The status upstream gave last time: a local decision since (an admin's quarantine, or
    # clearing one) is not overridden by the next refresh.
    previous_status = mp.upstream_status or "active"
    mp.upstream_status = page.status if page.status in STATUSES else None
    mp.upstream_status_reason = page.status_reason
    known = {f.filename: f for f in _files_of(session, mp)}
    seen: set[str] = set()
    report_skipped = list(page.skipped)
    for entry in page.files:
        if entry.filename in seen:
            continue
        seen.add(entry.filename)
        row = known.get(entry.filename)
        if row is None:
            version = _version_of(entry.filename, mp.normalized_name)
            if version is None:
                report_skipped.append(entry.filename)
                continue
            row = MirrorFile(
                upstream_id=upstream.id,
                mirror_project_id=mp.id,
                filename=entry.filename,
                version=version,
                sha256=entry.sha256,
                state=FILE_HELD,
                first_seen_at=now,
            )
            session.add(row)
        elif row.sha256 != entry.sha256:
            # A file's bytes never change on an index: keep what we have, say so.
            log.warning(
                "upstream %s changed the sha256 of %s; keeping the one first seen",
                upstream.name,
                entry.filename,
            )
            report_skipped.append(entry.filename)
            continue
        _update_row(row, entry, now)
        if row.state == FILE_REMOVED:
            # Back upstream: published again if its index row is live, else held (an admin's
            # restore brings back the row; until then nothing new is made under that name).
            row.state = FILE_PUBLISHED if row.file_id is not None else FILE_HELD
    # A quarantined project's page lists no files (PEP 792): they are hidden, not removed,
    # and come back if upstream lifts the quarantine.
    if mp.upstream_status != "quarantined":
        for filename, row in known.items():
            if filename not in seen and row.state != FILE_REMOVED:
                row.state, row.updated_at = FILE_REMOVED, now
    if report_skipped:
        log.info(
            "upstream %s: entries skipped for %s: %s",
            upstream.name,
            mp.normalized_name,
            ", ".join(report_skipped[:20]),
        )
    session.flush()
    report = reconcile(
        session, upstream, mp, now=now, name=page.name or None, status_from=previous_status
    )
    report.skipped = report_skipped
    return report


def _update_row(row: MirrorFile, entry: UpstreamFile, now: dt.datetime) -> None:
    row.url = entry.url
    row.size = entry.size if entry.size is not None else row.size
    row.upload_time = entry.upload_time or row.upload_time
    row.requires_python = entry.requires_python
    row.yanked, row.yanked_reason = entry.yanked, entry.yanked_reason
    row.core_metadata = entry.core_metadata
    row.core_metadata_sha256 = entry.core_metadata_sha256
    row.provenance_url = entry.provenance_url
    row.updated_at = now


def _version_of(filename: str, normalized_name: str) -> str | None:
    """The file's version; None for a filename this index would not take (legacy formats,
    local versions) or one naming another project (a hostile page must not claim others'
    filenames here)."""
    try:
        info = parse_filename(filename)
    except DistError:
        return None
    if info.normalized_name != normalized_name:
        return None
    return str(info.version)


def _files_of(session: Session, mp: MirrorProject) -> list[MirrorFile]:
    return list(session.scalars(select(MirrorFile).where(MirrorFile.mirror_project_id == mp.id)))


def reconcile(
    session: Session,
    upstream: MirrorUpstream,
    mp: MirrorProject,
    *,
    now: dt.datetime | None = None,
    name: str | None = None,
    status_from: str | None = None,
) -> SyncReport:
    """Make the index rows agree with ``mp``'s mirror files, rules and cooldown. The project's
    PEP 792 status follows upstream's when the project is new, or when its status is still the
    one upstream gave before (``status_from``)."""
    now = now or utcnow()
    report = SyncReport()
    files = _files_of(session, mp)
    allowed = upstream_allowed(session, mp.normalized_name, upstream)
    project = session.get(Project, mp.project_id) if mp.project_id is not None else None
    if project is not None and project.deletion_id is not None:
        # Purged or deleted here: an admin's restore brings it back, the mirror does not.
        return report
    exemptions = exemptions_of(session, mp.normalized_name, now)
    ready = [
        f
        for f in files
        if f.state == FILE_HELD
        and allowed
        and mp.status == PROJECT_OK
        and is_mature(upstream, f, exemptions, now)
    ]
    report.held = sum(1 for f in files if f.state == FILE_HELD) - len(ready)
    touched = False
    if ready:
        if project is None:
            project = _project_for(session, mp, name)
            status_from = project.status
        for f in ready:
            # Hidden by an origin rule before, allowed again: the same row comes back.
            if f.file_id is not None and _unhide(session, project, f, now):
                report.published.append(f.filename)
        publishing = _Publishing(session, project, [f for f in ready if f.file_id is None], now)
        for f in ready:
            if f.file_id is not None:
                continue
            if publishing.add(f):
                report.published.append(f.filename)
            else:
                report.skipped.append(f.filename)
        publishing.finish()
        touched = bool(report.published)
    if project is None:
        return report
    session.flush()
    if not allowed:
        _hide(session, upstream, project, files, report)
    # Files removed upstream leave the index (soft delete: blob kept, admin-restorable).
    for f in files:
        reason = f"removed upstream by {upstream.name}"
        if f.state == FILE_REMOVED and _take_down(session, project, f, reason):
            report.removed.append(f.filename)
    _follow_yanks(session, project, files, report)
    if status_from is not None and project.status == status_from:
        _follow_status(session, upstream, project, mp, report)
    if touched:
        rerender(session, project)
    if report.changed:
        record(
            session,
            "mirror:project:sync",
            origin=MIRROR_ORIGIN,
            project_id=project.id,
            summary=_summary(upstream, report),
            upstream=upstream.name,
            published=len(report.published),
            removed=report.removed or None,
            yanked=report.yanked or None,
            unyanked=report.unyanked or None,
            status=report.status,
        )
    return report


def reconcile_name(session: Session, normalized_name: str) -> SyncReport:
    """Reconcile every upstream's copy of a name, after its rules changed (an origin rule, a
    cooldown exemption): what the index serves follows at once."""
    total = SyncReport()
    for mp in session.scalars(
        select(MirrorProject).where(MirrorProject.normalized_name == normalized_name)
    ):
        upstream = session.get(MirrorUpstream, mp.upstream_id)
        assert upstream is not None
        report = reconcile(session, upstream, mp)
        total.published += report.published
        total.removed += report.removed
    return total


def _summary(upstream: MirrorUpstream, report: SyncReport) -> str:
    parts = []
    if report.published:
        parts.append(f"{len(report.published)} file(s) published")
    if report.removed:
        parts.append(f"{len(report.removed)} file(s) removed")
    if report.yanked:
        parts.append(f"yanked {', '.join(report.yanked)}")
    if report.unyanked:
        parts.append(f"unyanked {', '.join(report.unyanked)}")
    if report.status:
        parts.append(f"status {report.status}")
    return f"followed the upstream {upstream.name}: " + "; ".join(parts)


def _project_for(session: Session, mp: MirrorProject, name: str | None) -> Project:
    """The index project serving ``mp`` (made, without owners, on its first file)."""
    project = session.scalar(select(Project).where(Project.normalized_name == mp.normalized_name))
    if project is None:
        display = name if name and canonicalize_name(name) == mp.normalized_name else None
        project = Project(name=display or mp.normalized_name, normalized_name=mp.normalized_name)
        session.add(project)
        session.flush()
        journal(session, project, "create", version=None, user_id=None)
        record(
            session,
            "project:create",
            origin=MIRROR_ORIGIN,
            project_id=project.id,
            name=project.name,
            summary=f"{project.name} cached from an upstream index",
        )
    mp.project_id = project.id
    return project


class _Publishing:
    """Publishes a page's ready files in one go: what the index already holds of them is read
    in a few queries, and their rows and journal entries are written in one flush, instead of
    about ten statements per file (a cold project page waits on this)."""

    def __init__(
        self, session: Session, project: Project, files: list[MirrorFile], now: dt.datetime
    ) -> None:
        self.session, self.project, self.now = session, project, now
        self.registered: dict[str, str] = {}
        self.filenames: set[str] = set()
        self.digests: set[str] = set()
        names = [f.filename for f in files]
        for start in range(0, len(names), _CHUNK):
            chunk = names[start : start + _CHUNK]
            self.registered.update(
                session.execute(
                    select(FilenameRegistry.filename, FilenameRegistry.sha256_digest).where(
                        FilenameRegistry.filename.in_(chunk)
                    )
                ).all()
            )
            self.filenames.update(
                session.scalars(select(File.filename).where(File.filename.in_(chunk)))
            )
        digests = [f.sha256 for f in files]
        for start in range(0, len(digests), _CHUNK):
            chunk = digests[start : start + _CHUNK]
            self.digests.update(
                session.scalars(select(File.sha256_digest).where(File.sha256_digest.in_(chunk)))
            )
        self.releases = {
            r.canonical_version: r
            for r in session.scalars(select(Release).where(Release.project_id == project.id))
        }
        self.rows: list[tuple[MirrorFile, File]] = []
        self.journal: list[tuple[str, str]] = []

    def add(self, f: MirrorFile) -> bool:
        """Give a mirror file its index rows; False when the name or bytes are taken here."""
        try:
            info = parse_filename(f.filename)
        except DistError:
            return False
        registered = self.registered.get(f.filename)
        if registered is not None and registered != f.sha256:
            log.warning("%s: filename already used here for other bytes; skipped", f.filename)
            return False
        if f.sha256 in self.digests:
            log.warning("%s: the same bytes are already another file here; skipped", f.filename)
            return False
        if f.filename in self.filenames:
            return False
        version = str(info.version)
        canonical = canonicalize_version(version)
        release = self.releases.get(canonical)
        if release is None:
            release = Release(
                project=self.project,
                version=version,
                canonical_version=canonical,
                requires_python=f.requires_python,
                metadata_json={},
                yanked=f.yanked,
                yanked_reason=f.yanked_reason if f.yanked else None,
            )
            self.session.add(release)
            self.releases[canonical] = release
            self.journal.append(("new release", version))
        elif release.deletion_id is not None:
            return False
        if registered is None:
            self.session.add(FilenameRegistry(filename=f.filename, sha256_digest=f.sha256))
            self.registered[f.filename] = f.sha256
        row = File(
            release=release,
            project_id=self.project.id,
            filename=f.filename,
            packagetype=info.packagetype,
            python_version=info.python_version,
            requires_python=f.requires_python,
            size=f.size or 0,
            sha256_digest=f.sha256,
            blake2_256_digest="",
            md5_digest="",
            metadata_sha256=f.core_metadata_sha256,
            upload_time=f.upload_time or f.first_seen_at or self.now,
            uploaded_by_id=None,
            publisher_id=None,
        )
        self.session.add(row)
        self.filenames.add(f.filename)
        self.digests.add(f.sha256)
        self.project.total_size += row.size
        self.rows.append((f, row))
        self.journal.append((f"add {info.python_version} file {f.filename}", version))
        return True

    def finish(self) -> None:
        """One flush for every row; the mirror files learn their index rows."""
        if not self.rows and not self.journal:
            return
        journal_many(self.session, self.project, self.journal, user_id=None)
        for f, row in self.rows:
            f.file_id, f.state, f.updated_at = row.id, FILE_PUBLISHED, self.now
        self.rows, self.journal = [], []


_CHUNK = 500


def _publish(session: Session, project: Project, f: MirrorFile, now: dt.datetime) -> bool:
    """One file published on its own (a file an origin rule hid before, allowed again)."""
    publishing = _Publishing(session, project, [f], now)
    published = publishing.add(f)
    publishing.finish()
    return published


def _hide(
    session: Session,
    upstream: MirrorUpstream,
    project: Project,
    files: list[MirrorFile],
    report: SyncReport,
) -> None:
    """An origin rule now keeps upstream's files off this name: they leave the index (soft
    delete) and are held, so that allowing them again brings the same rows back."""
    for f in files:
        if f.state != FILE_PUBLISHED:
            continue
        if _take_down(session, project, f, f"origin rule: not served from {upstream.name}"):
            f.state = FILE_HELD
            report.removed.append(f.filename)


def _take_down(session: Session, project: Project, f: MirrorFile, reason: str) -> bool:
    """Soft-delete the mirror file's live index row through the lifecycle (no actor)."""
    row = session.get(File, f.file_id) if f.file_id is not None else None
    if row is None or row.deletion_id is not None:
        return False
    try:
        delete_file(
            session,
            project,
            row.filename,
            origin=MIRROR_ORIGIN,
            actor_id=None,
            admin=True,
            reason=reason,
        )
    except LifecycleError as exc:
        log.warning("could not take %s down: %s", row.filename, exc.message)
        return False
    return True


def _unhide(session: Session, project: Project, f: MirrorFile, now: dt.datetime) -> bool:
    row = session.get(File, f.file_id)
    if row is None:
        f.file_id = None
        return _publish(session, project, f, now)
    if row.deletion_id is not None:
        session.flush()
        try:
            restore(
                session,
                project.normalized_name,
                filename=row.filename,
                origin=MIRROR_ORIGIN,
                actor_id=None,
            )
        except LifecycleError as exc:
            log.warning("could not bring back %s: %s", row.filename, exc.message)
            return False
    f.state, f.updated_at = FILE_PUBLISHED, now
    return True


def _follow_yanks(
    session: Session, project: Project, files: list[MirrorFile], report: SyncReport
) -> None:
    """A release is yanked here when every one of its files upstream is yanked."""
    by_version: dict[str, list[MirrorFile]] = {}
    for f in files:
        if f.state == FILE_PUBLISHED:
            by_version.setdefault(canonicalize_version(f.version), []).append(f)
    if not by_version:
        return
    releases = session.scalars(
        select(Release).where(
            Release.project_id == project.id,
            Release.canonical_version.in_(list(by_version)),
            Release.deletion_id.is_(None),
        )
    ).all()
    for release in releases:
        group = by_version[release.canonical_version]
        want = all(f.yanked for f in group)
        if want == release.yanked:
            continue
        reason = next((f.yanked_reason for f in group if f.yanked_reason), None)
        session.flush()
        try:
            if want:
                yank(
                    session,
                    project,
                    release.version,
                    reason,
                    origin=MIRROR_ORIGIN,
                    actor_id=None,
                    admin=True,
                )
                report.yanked.append(release.version)
            else:
                unyank(
                    session,
                    project,
                    release.version,
                    origin=MIRROR_ORIGIN,
                    actor_id=None,
                    admin=True,
                )
                report.unyanked.append(release.version)
        except LifecycleError as exc:
            # An archived project refuses yanks: its pages stay as they are.
            log.info("%s %s: %s", project.normalized_name, release.version, exc.message)


def _follow_status(
    session: Session,
    upstream: MirrorUpstream,
    project: Project,
    mp: MirrorProject,
    report: SyncReport,
) -> None:
    want = mp.upstream_status or "active"
    if mp.status == PROJECT_MISSING or want == project.status:
        return
    if is_local(session, project):
        return
    session.flush()
    reason = mp.upstream_status_reason
    set_status(
        session,
        project,
        want,
        f"{reason} (upstream {upstream.name})"
        if reason
        else f"set by the upstream {upstream.name}",
        origin=MIRROR_ORIGIN,
        actor_id=None,
        tag="project:status",
    )
    report.status = want
