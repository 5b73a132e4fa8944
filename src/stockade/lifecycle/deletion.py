"""Deleting files, releases and whole projects.

Deletion is soft (see :mod:`stockade.lifecycle.models`): rows are tombstoned, blobs and
filenames stay, and an administrator can bring them back (:mod:`stockade.lifecycle.restoration`).
Owners delete; on a critical project only an administrator (or the operator at the command
line) may delete, everyone else may only yank.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade import faults
from stockade.events.services import Origin
from stockade.index.models import File, Project, Release
from stockade.lifecycle.changes import (
    changed,
    check_changeable,
    clean_reason,
    live_release,
    lock_project,
)
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.handover import revoke_pending_invitations
from stockade.lifecycle.models import Deletion

__all__ = ["check_may_delete", "delete_file", "delete_project", "delete_release"]


def check_may_delete(project: Project, *, admin: bool) -> None:
    """The deletion policy: on a critical project only administrators delete."""
    if project.critical and not admin:
        raise LifecycleError(
            403,
            f"Project {project.name!r} is a critical project: its releases can be yanked but "
            "nothing can be deleted, except by an administrator (critical-project deletion "
            "policy).",
        )


def _tombstone(
    session: Session,
    kind: str,
    project: Project,
    target: str | None,
    actor_id: int | None,
    reason: str | None,
) -> Deletion:
    deletion = Deletion(
        kind=kind,
        project_name=project.name,
        target=target,
        deleted_by_id=actor_id,
        reason=clean_reason(reason),
    )
    session.add(deletion)
    session.flush()
    return deletion


def _live_files(session: Session, *conditions: object) -> list[File]:
    return list(
        session.scalars(
            select(File).where(File.deletion_id.is_(None), *conditions)  # type: ignore[arg-type]
        )
    )


def delete_file(
    session: Session,
    project: Project,
    filename: str,
    *,
    origin: Origin,
    actor_id: int | None,
    admin: bool,
    reason: str | None = None,
) -> File:
    """Delete one file: it leaves every page at once; its filename can never be used again."""
    lock_project(session, project)
    check_changeable(project, admin=admin)
    check_may_delete(project, admin=admin)
    file = session.scalar(
        select(File).where(
            File.project_id == project.id, File.filename == filename, File.deletion_id.is_(None)
        )
    )
    release = session.get(Release, file.release_id) if file is not None else None
    if file is None or release is None or release.deletion_id is not None:
        raise LifecycleError(404, f"Project {project.name!r} has no file {filename!r}.")
    deletion = _tombstone(session, "file", project, filename, actor_id, reason)
    file.deletion_id = deletion.id
    project.total_size -= file.size
    changed(
        session,
        project,
        f"remove file {filename}",
        release.version,
        "file:delete",
        origin=origin,
        actor_id=actor_id,
        filename=filename,
        version=release.version,
        sha256=file.sha256_digest,
        reason=deletion.reason,
    )
    faults.point("delete:before-commit")
    return file


def delete_release(
    session: Session,
    project: Project,
    version: str,
    *,
    origin: Origin,
    actor_id: int | None,
    admin: bool,
    reason: str | None = None,
) -> Release:
    """Delete a release and every file it still has."""
    lock_project(session, project)
    check_changeable(project, admin=admin)
    check_may_delete(project, admin=admin)
    release = live_release(session, project, version)
    deletion = _tombstone(session, "release", project, release.version, actor_id, reason)
    release.deletion_id = deletion.id
    files = _live_files(session, File.release_id == release.id)
    for f in files:
        f.deletion_id = deletion.id
        project.total_size -= f.size
    changed(
        session,
        project,
        "remove release",
        release.version,
        "release:delete",
        origin=origin,
        actor_id=actor_id,
        version=release.version,
        files=sorted(f.filename for f in files),
        reason=deletion.reason,
    )
    faults.point("delete:before-commit")
    return release


def delete_project(
    session: Session,
    project: Project,
    *,
    origin: Origin,
    actor_id: int | None,
    admin: bool,
    reason: str | None = None,
) -> Deletion:
    """Delete a project with all its live releases and files. Its name stays reserved for its
    former owners (see ``stockade.lifecycle.rules``)."""
    lock_project(session, project)
    # Unlike its releases, an archived project can be deleted as a whole.
    if project.status != "archived":
        check_changeable(project, admin=admin)
    elif project.deletion_id is not None:
        raise LifecycleError(404, f"Project {project.name!r} does not exist.")
    check_may_delete(project, admin=admin)
    deletion = _tombstone(session, "project", project, None, actor_id, reason)
    project.deletion_id = deletion.id
    releases = list(
        session.scalars(
            select(Release).where(Release.project_id == project.id, Release.deletion_id.is_(None))
        )
    )
    for r in releases:
        r.deletion_id = deletion.id
    files = _live_files(session, File.project_id == project.id)
    for f in files:
        f.deletion_id = deletion.id
    project.total_size -= sum(f.size for f in files)
    # An invitation accepted now would make its invitee a "former owner" of the deleted name.
    revoke_pending_invitations(session, project, origin=origin, actor_id=actor_id)
    changed(
        session,
        project,
        "remove project",
        None,
        "project:delete",
        origin=origin,
        actor_id=actor_id,
        name=project.name,
        releases=len(releases),
        files=len(files),
        reason=deletion.reason,
    )
    faults.point("delete:before-commit")
    return deletion
