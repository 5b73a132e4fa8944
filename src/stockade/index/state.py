"""Reading a project's state from the database and storing its rendered simple pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from packaging.version import InvalidVersion, Version
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from stockade import faults
from stockade.db.base import utcnow
from stockade.index.filelog import log_files
from stockade.index.models import File, JournalEntry, Project, Release, SimplePage
from stockade.index.provenance import attested_file_ids_of_project, provenance_url
from stockade.index.render import (
    FileEntry,
    ProjectState,
    render_project_html,
    render_project_json,
)
from stockade.orgs.namespaces import project_namespaces

__all__ = ["JOURNAL_LOCK_KEY", "journal", "journal_many", "load_state", "rerender", "version_key"]


def version_key(version: str) -> tuple[int, Version | str]:
    """Sort key for versions: PEP 440 order, anything unparsable first."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


# pg_advisory_xact_lock key that orders journal appends ("journal" in ASCII).
JOURNAL_LOCK_KEY = 0x6A6F75726E616C


def journal(
    session: Session, project: Project, action: str, *, version: str | None, user_id: int | None
) -> int:
    """Append to the change feed and bump the project's serial; returns the new serial.

    Workers follow the feed by id (``PageCache.poll_once`` remembers the highest id it saw), so
    ids must become visible in increasing order. On PostgreSQL they come from a sequence at
    flush time, and two transactions could commit out of id order: a poller could then skip an
    id that commits later, and that change (a deletion, a quarantine) would never reach the
    other workers. A transaction-scoped advisory lock, taken before the id is drawn and held
    until commit or rollback, makes journal writers take ids in commit order. SQLite
    serializes writers anyway.

    The files the change touched (of ``version``, or all the project's) are compared with
    what the transparency log last recorded, and their changes logged, in this transaction
    (:mod:`stockade.index.filelog`)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": JOURNAL_LOCK_KEY})
    entry = JournalEntry(
        name=project.normalized_name, version=version, action=action, submitted_by_id=user_id
    )
    session.add(entry)
    session.flush()
    project.last_serial = entry.id
    log_files(session, project, None if version is None else (version,), user_id)
    return entry.id


def journal_many(
    session: Session,
    project: Project,
    actions: Sequence[tuple[str, str | None]],
    *,
    user_id: int | None,
) -> int:
    """:func:`journal` for many changes of one project at once (``(action, version)`` pairs, in
    order), in one flush; returns the last serial."""
    if not actions:
        session.flush()
        return project.last_serial
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": JOURNAL_LOCK_KEY})
    entries = [
        JournalEntry(
            name=project.normalized_name, version=version, action=action, submitted_by_id=user_id
        )
        for action, version in actions
    ]
    session.add_all(entries)
    session.flush()
    project.last_serial = max(entry.id for entry in entries)
    versions = [version for _, version in actions]
    log_files(session, project, None if None in versions else cast(list[str], versions), user_id)
    return project.last_serial


def load_state(session: Session, project: Project) -> ProjectState:
    """The project's simple-API state, straight from the database."""
    # Tombstoned (deleted) releases and files are not part of the index.
    releases = session.scalars(
        select(Release).where(Release.project_id == project.id, Release.deletion_id.is_(None))
    ).all()
    by_id = {r.id: r for r in releases}
    files = session.scalars(
        select(File).where(File.project_id == project.id, File.deletion_id.is_(None))
    ).all()
    attested = attested_file_ids_of_project(session, project.id)
    entries = []
    for f in files:
        release = by_id.get(f.release_id)
        if release is None:  # a deleted release: its files are gone with it
            continue
        yanked: bool | str = (release.yanked_reason or "") if release.yanked else False
        entries.append(
            FileEntry(
                filename=f.filename,
                version=release.version,
                sha256=f.sha256_digest,
                size=f.size,
                upload_time=f.upload_time,
                requires_python=f.requires_python,
                yanked=yanked,
                metadata_sha256=f.metadata_sha256,
                # PEP 740: stored relative to /simple/<name>/, like the file URLs; the page
                # cache qualifies it with the configured base_url (render.with_base_url).
                provenance_url=(
                    "../.." + provenance_url(project.normalized_name, release.version, f.filename)
                    if f.id in attested
                    else None
                ),
            )
        )
    entries.sort(key=lambda e: (version_key(e.version), e.filename))
    versions = sorted({r.version for r in releases}, key=version_key)
    return ProjectState(
        name=project.name,
        normalized_name=project.normalized_name,
        serial=project.last_serial,
        status=project.status,
        status_reason=project.status_reason,
        versions=tuple(versions),
        files=tuple(entries),
        namespaces=_namespaces(session, project),
    )


def _namespaces(session: Session, project: Project) -> tuple[tuple[str, bool], ...] | None:
    found = project_namespaces(session, project.id, project.normalized_name)
    return None if found is None else tuple((n.name, n.owned) for n in found)


def rerender(session: Session, project: Project) -> SimplePage | None:
    """Render the project's pages into the ``simple_pages`` row, in the caller's transaction.

    A deleted project has no pages (``/simple/<name>/`` answers 404): its row is removed, and
    None is returned."""
    page = session.get(SimplePage, project.id)
    if project.deletion_id is not None:
        if page is not None:
            session.delete(page)
        return None
    state = load_state(session, project)
    if page is None:
        page = SimplePage(project_id=project.id, normalized_name=project.normalized_name)
        session.add(page)
    page.serial = project.last_serial
    page.html = render_project_html(state)
    page.json = render_project_json(state)
    page.updated_at = utcnow()
    faults.point("page:rendered")
    return page
