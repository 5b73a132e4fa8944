"""Restoring what a deletion took away: a file, a release, or a whole project with what was
deleted with it. Only administrators (and the operator at the command line) restore; rows come
back as they were, and each step is journaled and recorded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade import faults
from stockade.events.services import Origin
from stockade.index.models import File, Project, Release
from stockade.lifecycle.changes import (
    changed,
    find_project,
    find_release,
    journaled,
    lock_project,
)
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.models import Deletion

__all__ = ["restore", "restore_deletion"]


def _revive(files: list[File]) -> int:
    """Clear the files' tombstones; returns their total size."""
    for f in files:
        f.deletion_id = None
    return sum(f.size for f in files)


def _restore_project_row(
    session: Session, project: Project, origin: Origin, actor_id: int | None, **details: Any
) -> None:
    """The first step of restoring a release or a file of a deleted project."""
    project.deletion_id = None
    journaled(
        session,
        project,
        "restore project",
        None,
        "project:restore",
        origin=origin,
        actor_id=actor_id,
        name=project.name,
        **details,
    )


def restore(
    session: Session,
    project_name: str,
    version: str | None = None,
    filename: str | None = None,
    *,
    origin: Origin,
    actor_id: int | None,
) -> str:
    """Bring back what one deletion took away (administrators and the operator only).

    With ``filename``: that file, and its release and project rows if they were deleted (their
    other files stay deleted). With ``version``: the release and the files deleted with it. With
    neither: the project and everything deleted with it; releases and files deleted on their own
    before stay deleted. Rows come back as they were: same hashes, sizes, upload times.
    Returns a one-line summary."""
    project = find_project(session, project_name)
    if project is None:
        raise LifecycleError(404, f"There is no project named {project_name!r}.")
    lock_project(session, project)
    if filename is not None:
        summary = _restore_file(session, project, filename, origin, actor_id)
    elif version is not None:
        summary = _restore_release(session, project, version, origin, actor_id)
    else:
        batch = project.deletion_id
        if batch is None:
            # The project row may have come back with one of its releases or files while the
            # rest of its deletion is still tombstoned: restore what is left of the latest such
            # batch.
            batch = _unfinished_project_deletion(session, project)
        if batch is None:
            raise LifecycleError(400, f"Project {project.name!r} is not deleted.")
        summary = _restore_batch(session, project, batch, origin, actor_id)
    faults.point("restore:before-commit")
    return summary


def _unfinished_project_deletion(session: Session, project: Project) -> int | None:
    """The latest deletion of the whole project that still has tombstoned releases or files."""
    left = (
        select(Release.deletion_id)
        .where(Release.project_id == project.id, Release.deletion_id.is_not(None))
        .union(
            select(File.deletion_id).where(
                File.project_id == project.id, File.deletion_id.is_not(None)
            )
        )
    )
    return session.scalar(
        select(Deletion.id)
        .where(Deletion.kind == "project", Deletion.id.in_(left))
        .order_by(Deletion.id.desc())
        .limit(1)
    )


def restore_deletion(
    session: Session, deletion_id: int, *, origin: Origin, actor_id: int | None
) -> tuple[str, str]:
    """Bring back what the deletion ``deletion_id`` took away and is still deleted (the admin
    page's one click). Returns the project's normalized name and a one-line summary."""
    deletion = session.get(Deletion, deletion_id)
    if deletion is None:
        raise LifecycleError(404, "There is no such deletion.")
    project = find_project(session, deletion.project_name)
    if project is None:
        raise LifecycleError(404, f"There is no project named {deletion.project_name!r}.")
    lock_project(session, project)
    if deletion.kind == "file" and deletion.target is not None:
        summary = _restore_file(session, project, deletion.target, origin, actor_id)
    elif deletion.kind == "release" and deletion.target is not None:
        summary = _restore_release(session, project, deletion.target, origin, actor_id)
    else:
        summary = _restore_batch(session, project, deletion.id, origin, actor_id)
    return project.normalized_name, summary


def _restore_batch(
    session: Session, project: Project, batch: int, origin: Origin, actor_id: int | None
) -> str:
    """Clear the tombstones of one project deletion: the project row (if it still carries it),
    the releases and the files deleted with it."""
    releases = list(
        session.scalars(
            select(Release).where(Release.project_id == project.id, Release.deletion_id == batch)
        )
    )
    files = list(
        session.scalars(
            select(File).where(File.project_id == project.id, File.deletion_id == batch)
        )
    )
    if project.deletion_id != batch and not releases and not files:
        raise LifecycleError(400, f"Nothing of this deletion of {project.name!r} is deleted.")
    for r in releases:
        r.deletion_id = None
    project.total_size += _revive(files)
    if project.deletion_id == batch:
        project.deletion_id = None
        changed(
            session,
            project,
            "restore project",
            None,
            "project:restore",
            origin=origin,
            actor_id=actor_id,
            name=project.name,
            releases=len(releases),
            files=len(files),
        )
    else:
        # The project came back another way (a single release or file was restored first).
        changed(
            session,
            project,
            "restore release",
            None,
            "release:restore",
            origin=origin,
            actor_id=actor_id,
            versions=sorted(r.version for r in releases),
            files=sorted(f.filename for f in files),
        )
    return f"restored project {project.name} ({len(releases)} releases, {len(files)} files)"


def _restore_release(
    session: Session, project: Project, version: str, origin: Origin, actor_id: int | None
) -> str:
    release = find_release(session, project, version)
    if release is None:
        raise LifecycleError(404, f"Project {project.name!r} has no release {version!r}.")
    if release.deletion_id is None:
        raise LifecycleError(
            400, f"Release {release.version!r} of {project.name!r} is not deleted."
        )
    batch = release.deletion_id
    release.deletion_id = None
    files = list(
        session.scalars(
            select(File).where(File.release_id == release.id, File.deletion_id == batch)
        )
    )
    project.total_size += _revive(files)
    if project.deletion_id is not None:
        _restore_project_row(session, project, origin, actor_id, version=release.version)
    changed(
        session,
        project,
        "restore release",
        release.version,
        "release:restore",
        origin=origin,
        actor_id=actor_id,
        version=release.version,
        files=sorted(f.filename for f in files),
    )
    return f"restored {project.name} {release.version} ({len(files)} files)"


def _restore_file(
    session: Session, project: Project, filename: str, origin: Origin, actor_id: int | None
) -> str:
    file = session.scalar(
        select(File).where(File.project_id == project.id, File.filename == filename)
    )
    if file is None:
        raise LifecycleError(404, f"Project {project.name!r} has no file {filename!r}.")
    release = session.get(Release, file.release_id)
    assert release is not None  # a foreign key
    if file.deletion_id is None and release.deletion_id is None and project.deletion_id is None:
        raise LifecycleError(400, f"File {filename!r} is not deleted.")
    if file.deletion_id is not None:
        file.deletion_id = None
        project.total_size += file.size
    if project.deletion_id is not None:
        _restore_project_row(session, project, origin, actor_id, filename=filename)
    if release.deletion_id is not None:
        release.deletion_id = None
        journaled(
            session,
            project,
            "restore release",
            release.version,
            "release:restore",
            origin=origin,
            actor_id=actor_id,
            version=release.version,
            files=[filename],
        )
    changed(
        session,
        project,
        f"restore file {filename}",
        release.version,
        "file:restore",
        origin=origin,
        actor_id=actor_id,
        filename=filename,
        version=release.version,
        sha256=file.sha256_digest,
    )
    return f"restored {filename} ({project.name} {release.version})"
