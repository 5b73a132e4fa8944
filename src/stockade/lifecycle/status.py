"""A project's PEP 792 status: archiving (read-only, uploads refused) by its owners, and any
status (quarantined, deprecated …) as administrators and the abuse services set it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from stockade.events.services import Origin
from stockade.index.models import Project
from stockade.lifecycle.changes import changed, check_changeable, clean_reason, lock_project
from stockade.lifecycle.errors import LifecycleError

__all__ = ["STATUSES", "archive", "set_status", "unarchive"]

# PEP 792 statuses (``active`` is the absence of any other).
STATUSES = ("active", "archived", "quarantined", "deprecated")


def set_status(
    session: Session,
    project: Project,
    status: str,
    reason: str | None,
    *,
    origin: Origin,
    actor_id: int | None,
    tag: str = "project:status",
) -> None:
    """Set the project's PEP 792 status (active, archived, quarantined, deprecated) with an
    optional reason: journals the change, records the event ``tag`` and re-renders the pages.

    A quarantined project's simple page lists no files, it leaves the ``/simple/`` root list and
    its files answer 404; an archived one refuses uploads. Checks of who may do this are the
    caller's."""
    lock_project(session, project)
    if status not in STATUSES:
        raise ValueError(f"unknown project status {status!r}")
    previous = project.status
    cleaned = clean_reason(reason) if status != "active" else None
    project.status, project.status_reason = status, cleaned
    changed(
        session,
        project,
        f"status {status}",
        None,
        tag,
        origin=origin,
        actor_id=actor_id,
        status=status,
        previous=previous,
        reason=cleaned,
    )


def archive(
    session: Session,
    project: Project,
    reason: str | None = None,
    *,
    origin: Origin,
    actor_id: int | None,
    admin: bool = False,
) -> None:
    """Archive a project (PEP 792 ``archived``): read-only, uploads refused."""
    lock_project(session, project)
    check_changeable(project, admin=admin)
    if project.status != "active":
        raise LifecycleError(
            400, f"Project {project.name!r} is {project.status}; only active projects are archived."
        )
    set_status(
        session,
        project,
        "archived",
        reason,
        origin=origin,
        actor_id=actor_id,
        tag="project:archive",
    )


def unarchive(session: Session, project: Project, *, origin: Origin, actor_id: int | None) -> None:
    """Make an archived project active again."""
    lock_project(session, project)
    if project.deletion_id is not None:
        raise LifecycleError(404, f"Project {project.name!r} does not exist.")
    if project.status != "archived":
        raise LifecycleError(400, f"Project {project.name!r} is not archived.")
    set_status(
        session, project, "active", None, origin=origin, actor_id=actor_id, tag="project:unarchive"
    )
