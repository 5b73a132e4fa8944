"""What mirrors and feed readers ask for: the package list with serials, the change feed since a
serial, a project's versions and a release's files (PyPI's XML-RPC), and the newest releases
and projects (PyPI's RSS feeds).

Each answer is one or two indexed queries. Deleted and quarantined projects are not listed,
exactly as on the simple root page; the change feed keeps every entry, so a mirror also learns
that a project went away.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from packaging.utils import canonicalize_name, canonicalize_version
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from stockade.index.browse import latest_release
from stockade.index.models import File, JournalEntry, Project, Release
from stockade.index.state import version_key

__all__ = [
    "CHANGELOG_LIMIT",
    "FEED_ITEMS",
    "ChangelogEntry",
    "FeedItem",
    "changelog_since",
    "last_serial",
    "newest_projects",
    "packages_with_serial",
    "project_feed",
    "project_versions",
    "recent_releases",
    "release_files",
]

# PyPI answers ``changelog_since_serial`` with at most this many entries; a mirror asks again
# from the last serial it got.
CHANGELOG_LIMIT = 50_000
# How many items each RSS feed carries (PyPI's number).
FEED_ITEMS = 40


@dataclass(frozen=True)
class ChangelogEntry:
    """One journal entry as PyPI's changelog gives it."""

    name: str
    version: str | None
    timestamp: int
    action: str
    serial: int


@dataclass(frozen=True)
class FeedItem:
    """One release (or one new project) in an RSS feed."""

    name: str
    normalized_name: str
    version: str
    summary: str | None
    author_email: str | None
    published: dt.datetime


def _listed() -> ColumnElement[bool]:
    return and_(Project.deletion_id.is_(None), Project.status != "quarantined")


def _live_release() -> ColumnElement[bool]:
    return Release.deletion_id.is_(None)


def packages_with_serial(session: Session) -> dict[str, int]:
    """Every listed project's name and the serial of its newest change."""
    rows = session.execute(select(Project.name, Project.last_serial).where(_listed()))
    return {name: serial for name, serial in rows}


def last_serial(session: Session) -> int:
    """The serial of the newest change to any project (0 for an empty index)."""
    return session.scalar(select(func.max(JournalEntry.id))) or 0


def changelog_since(
    session: Session, since: int, limit: int = CHANGELOG_LIMIT
) -> list[ChangelogEntry]:
    """The changes after serial ``since``, oldest first, at most ``limit``; each named by its
    project's display name while the project row exists."""
    rows = session.execute(
        select(
            func.coalesce(Project.name, JournalEntry.name),
            JournalEntry.version,
            JournalEntry.submitted_at,
            JournalEntry.action,
            JournalEntry.id,
        )
        .outerjoin(Project, Project.normalized_name == JournalEntry.name)
        .where(JournalEntry.id > since)
        .order_by(JournalEntry.id)
        .limit(limit)
    )
    return [
        ChangelogEntry(name, version, int(at.timestamp()), action, serial)
        for name, version, at, action, serial in rows
    ]


def _project(session: Session, name: str) -> Project | None:
    return session.scalar(
        select(Project).where(Project.normalized_name == canonicalize_name(name), _listed())
    )


def project_versions(session: Session, name: str, *, every: bool) -> list[str]:
    """PyPI's ``package_releases``: with ``every``, all versions, newest first; otherwise only
    the latest (newest non-yanked, finals before pre-releases). Empty for an unknown name."""
    project = _project(session, name)
    if project is None:
        return []
    releases = session.scalars(
        select(Release).where(Release.project_id == project.id, _live_release())
    ).all()
    if every:
        return [r.version for r in sorted(releases, key=lambda r: version_key(r.version))][::-1]
    live = [r for r in releases if not r.yanked]
    return [latest_release(live).version] if live else []


def release_files(session: Session, name: str, version: str) -> list[File]:
    """The files of one release, by filename; empty when there is no such release."""
    project = _project(session, name)
    if project is None:
        return []
    release_id = session.scalar(
        select(Release.id).where(
            Release.project_id == project.id,
            Release.canonical_version == canonicalize_version(version),
            _live_release(),
        )
    )
    if release_id is None:
        return []
    return list(
        session.scalars(
            select(File)
            .where(File.release_id == release_id, File.deletion_id.is_(None))
            .order_by(File.filename)
        )
    )


def _author_email(release: Release) -> str | None:
    value = (release.metadata_json or {}).get("author_email")
    return value if isinstance(value, str) and value else None


def _item(project: Project, release: Release, published: dt.datetime) -> FeedItem:
    return FeedItem(
        name=project.name,
        normalized_name=project.normalized_name,
        version=release.version,
        summary=release.summary,
        author_email=_author_email(release),
        published=published,
    )


def recent_releases(session: Session, limit: int = FEED_ITEMS) -> list[FeedItem]:
    """The newest releases of listed projects, newest first."""
    rows = session.execute(
        select(Project, Release)
        .join(Release, Release.project_id == Project.id)
        .where(_listed(), _live_release())
        .order_by(Release.created_at.desc(), Release.id.desc())
        .limit(limit)
    ).all()
    return [_item(project, release, release.created_at) for project, release in rows]


def newest_projects(session: Session, limit: int = FEED_ITEMS) -> list[FeedItem]:
    """The newest listed projects with a release, newest first; each with its latest
    release's summary, dated when the project was created."""
    projects = session.scalars(
        select(Project)
        .where(
            _listed(),
            select(Release.id).where(Release.project_id == Project.id, _live_release()).exists(),
        )
        .order_by(Project.created_at.desc(), Project.id.desc())
        .limit(limit)
    ).all()
    by_project: dict[int, list[Release]] = {p.id: [] for p in projects}
    if projects:
        for release in session.scalars(
            select(Release).where(Release.project_id.in_(list(by_project)), _live_release())
        ):
            by_project[release.project_id].append(release)
    return [
        _item(p, latest_release(by_project[p.id]), p.created_at)
        for p in projects
        if by_project[p.id]
    ]


def project_feed(
    session: Session, normalized_name: str, limit: int = FEED_ITEMS
) -> tuple[str, list[FeedItem]] | None:
    """A listed project's display name and its newest releases, newest first; None when
    there is no such project."""
    project = session.scalar(
        select(Project).where(Project.normalized_name == normalized_name, _listed())
    )
    if project is None:
        return None
    releases = session.scalars(
        select(Release)
        .where(Release.project_id == project.id, _live_release())
        .order_by(Release.created_at.desc(), Release.id.desc())
        .limit(limit)
    ).all()
    return project.name, [_item(project, r, r.created_at) for r in releases]
