"""What the lifecycle pages and ``stockade project show`` display: a project with every release
and file, deleted ones included, and the deletions an administrator can undo."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.index.models import File, Project, Release
from stockade.index.state import version_key
from stockade.lifecycle.models import Deletion

__all__ = [
    "DeletedItem",
    "FileState",
    "ProjectReport",
    "ReleaseState",
    "deleted_items",
    "project_report",
]


@dataclass(frozen=True)
class FileState:
    """One file of a release, deleted or not."""

    filename: str
    sha256: str
    size: int
    upload_time: dt.datetime
    packagetype: str
    deleted: bool


@dataclass(frozen=True)
class ReleaseState:
    """One release with its files."""

    version: str
    created_at: dt.datetime
    yanked: bool
    yanked_reason: str | None
    deleted: bool
    files: list[FileState]

    @property
    def live_files(self) -> list[FileState]:
        """The files installers can get."""
        return [f for f in self.files if not f.deleted]


@dataclass(frozen=True)
class ProjectReport:
    """A project's lifecycle state: status, critical designation, releases newest first."""

    name: str
    normalized_name: str
    status: str
    status_reason: str | None
    critical: bool
    releases: list[ReleaseState]

    def as_json(self) -> dict[str, Any]:
        """The ``stockade project show --json`` document."""
        return {
            "name": self.name,
            "status": self.status,
            "critical": self.critical,
            "releases": [
                {
                    "version": r.version,
                    "yanked": r.yanked,
                    "yanked_reason": r.yanked_reason,
                    "deleted": r.deleted,
                    "files": [
                        {
                            "filename": f.filename,
                            "sha256": f.sha256,
                            "size": f.size,
                            "upload_time": f.upload_time.astimezone(dt.UTC).isoformat(),
                            "deleted": f.deleted,
                        }
                        for f in r.files
                    ],
                }
                for r in self.releases
            ],
        }


def project_report(session: Session, project: Project) -> ProjectReport:
    """Everything about the project's releases and files, deleted ones included. A release or
    file counts as deleted when it or anything above it is."""
    project_deleted = project.deletion_id is not None
    releases = list(session.scalars(select(Release).where(Release.project_id == project.id)))
    files: dict[int, list[File]] = {r.id: [] for r in releases}
    for f in session.scalars(
        select(File).where(File.project_id == project.id).order_by(File.filename)
    ):
        files[f.release_id].append(f)
    states = []
    for r in sorted(releases, key=lambda r: version_key(r.version), reverse=True):
        release_deleted = project_deleted or r.deletion_id is not None
        states.append(
            ReleaseState(
                version=r.version,
                created_at=r.created_at,
                yanked=r.yanked,
                yanked_reason=r.yanked_reason if r.yanked else None,
                deleted=release_deleted,
                files=[
                    FileState(
                        filename=f.filename,
                        sha256=f.sha256_digest,
                        size=f.size,
                        upload_time=f.upload_time,
                        packagetype=f.packagetype,
                        deleted=release_deleted or f.deletion_id is not None,
                    )
                    for f in files[r.id]
                ],
            )
        )
    return ProjectReport(
        name=project.name,
        normalized_name=project.normalized_name,
        status="deleted" if project_deleted else project.status,
        status_reason=project.status_reason,
        critical=project.critical,
        releases=states,
    )


@dataclass(frozen=True)
class DeletedItem:
    """A deletion whose rows are still (at least partly) deleted."""

    id: int
    kind: str
    project: str
    normalized_name: str
    target: str | None
    deleted_at: dt.datetime
    deleted_by: str | None
    reason: str | None


def deleted_items(session: Session, limit: int = 200) -> list[DeletedItem]:
    """The newest deletions that can still be restored (something they took is still gone)."""
    rows = session.execute(
        select(Deletion, User.username)
        .outerjoin(User, User.id == Deletion.deleted_by_id)
        .order_by(Deletion.id.desc())
        .limit(limit * 4)
    ).all()
    if not rows:
        return []
    ids = [d.id for d, _ in rows]
    # deletion id -> project id, for the deletions that still hold something
    pending: dict[int, int] = {}
    for query in (
        select(Project.deletion_id, Project.id).where(Project.deletion_id.in_(ids)),
        select(Release.deletion_id, Release.project_id).where(Release.deletion_id.in_(ids)),
        select(File.deletion_id, File.project_id).where(File.deletion_id.in_(ids)),
    ):
        for deletion_id, project_id in session.execute(query):
            if deletion_id is not None:
                pending.setdefault(deletion_id, project_id)
    projects = {
        project_id: name
        for project_id, name in session.execute(
            select(Project.id, Project.normalized_name).where(Project.id.in_(set(pending.values())))
        )
    }
    out = []
    for d, username in rows:
        if d.id not in pending:
            continue
        out.append(
            DeletedItem(
                id=d.id,
                kind=d.kind,
                project=d.project_name,
                normalized_name=projects.get(pending[d.id], d.project_name),
                target=d.target,
                deleted_at=d.deleted_at,
                deleted_by=username,
                reason=d.reason,
            )
        )
        if len(out) >= limit:
            break
    return out
