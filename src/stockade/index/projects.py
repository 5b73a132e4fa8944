"""Creating a project and granting its first Owner, and the rule a quarantined project's
uploads and roles obey. The name checks are the caller's (the upload use case, trusted
publishing): see :mod:`stockade.abuse.naming`."""

from __future__ import annotations

from packaging.utils import canonicalize_name
from sqlalchemy.orm import Session

from stockade.events.services import Origin, record
from stockade.index.models import (
    ROLE_OWNER,
    Project,
    Role,
)
from stockade.index.state import journal
from stockade.orgs.namespaces import adopt

__all__ = ["QUARANTINED", "create_project", "frozen_refusal", "grant_owner"]

QUARANTINED = "quarantined"


def create_project(
    session: Session, name: str, *, user_id: int, username: str, origin: Origin
) -> Project:
    """Create a project owned by ``user_id`` (the caller has run the name checks). Also used
    by trusted publishing, when a pending publisher's first upload token is minted."""
    project = Project(name=name, normalized_name=canonicalize_name(name))
    session.add(project)
    session.flush()
    journal(session, project, "create", version=None, user_id=user_id)
    record(
        session,
        "project:create",
        origin=origin,
        actor_id=user_id,
        project_id=project.id,
        name=project.name,
    )
    grant_owner(session, project, user_id=user_id, username=username, origin=origin)
    # PEP 752: a project created in an org's namespace by that org is the org's.
    adopt(session, project.id, project.normalized_name, user_id=user_id)
    return project


def grant_owner(
    session: Session, project: Project, *, user_id: int, username: str, origin: Origin
) -> None:
    """Make ``user_id`` an Owner of ``project`` (a new project's creator, or whoever a deleted
    project's name passed to), with its ``project:role:add`` event. Invitations and role
    changes between people go through :mod:`stockade.index.roles`."""
    session.add(Role(user_id=user_id, project_id=project.id, role_name=ROLE_OWNER))
    record(
        session,
        "project:role:add",
        origin=origin,
        actor_id=user_id,
        user_id=user_id,
        project_id=project.id,
        role=ROLE_OWNER,
        username=username,
    )


def frozen_refusal(project: Project) -> str | None:
    """Why the project's uploads and roles cannot change now, or None when they can."""
    if project.status == QUARANTINED:
        return (
            f"Project {project.name!r} is quarantined: uploads and ownership changes are "
            "refused until an administrator clears it."
        )
    return None
