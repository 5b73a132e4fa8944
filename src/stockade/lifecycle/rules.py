"""What the lifecycle forbids on the upload path: archived projects, closed or deleted releases,
and the names of deleted projects.

A deleted project keeps its row (and so its name) and its roles. For
``deleted_name_reserved_days`` after the deletion (forever for a critical project) only its
former owners may upload under that name, which re-creates the project in the same row: the
critical designation and the 2FA opt-in survive, so deleting and re-creating cannot shed them.
Once the reservation is over anyone may take the name; the old roles, pending invitations and
trusted publishers are dropped and the uploader becomes the owner. The deleted releases and
files stay deleted either way.

The functions raise :class:`LifecycleError`; the upload path turns it into its own error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from packaging.utils import canonicalize_version
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from stockade.config import Settings
from stockade.db.base import utcnow
from stockade.events.services import Origin
from stockade.index.models import ROLE_OWNER, Project, Release, Role
from stockade.index.projects import grant_owner
from stockade.lifecycle.changes import journaled
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.handover import revoke_pending_invitations
from stockade.lifecycle.models import Deletion

__all__ = ["check_release_open", "reopen", "reserved_until", "upload_target"]


def reserved_until(session: Session, settings: Settings, project: Project) -> dt.datetime | None:
    """Until when a deleted project's name is reserved for its former owners; None when it is
    not deleted, ``datetime.max`` (UTC) when the reservation never ends."""
    if project.deletion_id is None:
        return None
    if project.critical:
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    deletion = session.get(Deletion, project.deletion_id)
    deleted_at = deletion.deleted_at if deletion is not None else utcnow()
    return deleted_at + dt.timedelta(days=settings.deleted_name_reserved_days)


def _former_owner(session: Session, project: Project, user_id: int) -> bool:
    found = session.scalar(
        select(Role.id).where(
            Role.project_id == project.id, Role.user_id == user_id, Role.role_name == ROLE_OWNER
        )
    )
    return found is not None


def _check_reserved(session: Session, settings: Settings, project: Project, user_id: int) -> bool:
    """For a deleted project: True when ``user_id`` is a former owner, False when the name is
    free for anyone; raises when the name is reserved for others."""
    if project.status == "quarantined":
        raise LifecycleError(
            400,
            f"The name {project.name!r} isn't allowed: the project was quarantined and "
            "deleted by an administrator.",
        )
    if _former_owner(session, project, user_id):
        return True
    until = reserved_until(session, settings, project)
    if project.critical:
        raise LifecycleError(
            400,
            f"The name {project.name!r} isn't allowed: it belonged to a deleted critical project "
            "and is reserved for that project's former owners forever (deleted-name "
            "reservation).",
        )
    if until is not None and utcnow() < until:
        raise LifecycleError(
            400,
            f"The name {project.name!r} isn't allowed: it belonged to a deleted project and is "
            f"reserved for that project's former owners until {until:%Y-%m-%d} (deleted-name "
            "reservation).",
        )
    return False


def upload_target(
    session: Session, settings: Settings, project: Project | None, user_id: int
) -> Project | None:
    """The project an upload goes to, as the role check should see it: None when the upload
    creates the project, which includes re-creating a deleted one. Raises LifecycleError when
    the name is reserved for someone else."""
    if project is None:
        return None
    if project.deletion_id is not None:
        former_owner = _check_reserved(session, settings, project, user_id)
        # A former owner's role still stands; anyone else creates the project anew.
        return project if former_owner else None
    return project


def reopen(
    session: Session,
    settings: Settings,
    project: Project,
    *,
    user_id: int,
    username: str,
    origin: Origin,
    hand_over: Callable[[Session, Project], object] | None = None,
) -> None:
    """In the upload's write transaction: re-create a deleted project in its own row for the
    uploader (a former owner, or anyone once the reservation is over).

    When the name passes to someone else, the old owners' roles and invitations go, and so
    does whatever else of theirs reaches into the project: ``hand_over(session, project)`` is
    called for that (the upload use case drops their trusted publishers), right after the
    invitations are revoked and before the new Owner is granted.
    """
    if project.deletion_id is None:
        return
    former_owner = _check_reserved(session, settings, project, user_id)
    if not former_owner:
        # The name passes to someone else: nothing of the old owners' may reach into the new
        # project (their roles, their invitations, their CI jobs' trusted publishers).
        revoke_pending_invitations(session, project, origin=origin, actor_id=user_id)
        if hand_over is not None:
            hand_over(session, project)
        session.execute(delete(Role).where(Role.project_id == project.id))
        grant_owner(session, project, user_id=user_id, username=username, origin=origin)
    project.deletion_id = None
    project.status, project.status_reason = "active", None
    # The upload writes its file next and re-renders the pages once, at the end.
    journaled(
        session,
        project,
        "create",
        None,
        "project:create",
        origin=origin,
        actor_id=user_id,
        name=project.name,
        recreated=True,
        former_owner=former_owner,
    )


def check_release_open(
    session: Session, settings: Settings, project: Project, version: str
) -> None:
    """Refuse a new file for an archived project, a deleted release, or a closed release (one
    whose first upload is older than ``closed_release_days``)."""
    # A deleted project's status no longer counts: re-creating it (``reopen``) resets it.
    if project.status == "archived" and project.deletion_id is None:
        raise LifecycleError(
            400,
            f"Project {project.name!r} is archived and does not accept new uploads; an owner "
            "can unarchive it.",
        )
    release = session.scalar(
        select(Release).where(
            Release.project_id == project.id,
            Release.canonical_version == canonicalize_version(version),
        )
    )
    if release is None:
        return
    if release.deletion_id is not None:
        raise LifecycleError(
            400,
            f"Release {release.version!r} of project {project.name!r} was deleted and its "
            "version cannot be used again; use a different version.",
        )
    days = settings.closed_release_days
    if days and release.created_at < utcnow() - dt.timedelta(days=days):
        raise LifecycleError(
            400,
            f"Uploading new files to releases older than {days} days is not allowed "
            "(closed releases).",
        )
