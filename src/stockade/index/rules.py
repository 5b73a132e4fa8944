"""The rules every role change obeys, shared by the role and invitation services.

- Only Owners (and administrators) manage a project's roles.
- A project keeps at least one Owner: the last one can be neither removed, demoted nor leave.
- One role per user and project: the unique constraint on ``Role(user_id, project_id)`` decides
  races, and its IntegrityError becomes a RoleError.

Services lock the project row first (``lock_project``), so two owners acting at once are
serialized and the last-owner rule cannot be raced around.
"""

from __future__ import annotations

import datetime as dt

from packaging.utils import canonicalize_name
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.events.services import Origin, record
from stockade.index.models import ROLE_MAINTAINER, ROLE_OWNER, Project, Role, RoleInvitation
from stockade.orgs.services import owner_ids_via_org, project_role_via_org

__all__ = [
    "INVITATION_LIFETIME",
    "ROLE_NAMES",
    "InvitationExpired",
    "NotAllowed",
    "RoleError",
    "RoleNotFound",
    "delete_role",
    "effective_role",
    "find_project",
    "lock_project",
    "new_role",
    "owner_count",
    "owners_of",
    "parse_role_name",
    "pending_invitation",
    "project_role",
    "require_owner",
    "role_of",
]

ROLE_NAMES = (ROLE_OWNER, ROLE_MAINTAINER)
INVITATION_LIFETIME = dt.timedelta(days=6)


class RoleError(Exception):
    """A role change that cannot be made; ``message`` is shown to the user as is."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RoleNotFound(RoleError):
    """No such role or invitation (or not one the user may see)."""

    status_code = 404


class NotAllowed(RoleError):
    """The actor lacks the role this needs."""

    status_code = 403


class InvitationExpired(RoleError):
    """The invitation has expired. The service has marked it so: the caller should commit."""


def parse_role_name(value: str) -> str:
    """``Owner`` or ``Maintainer`` from any capitalisation; RoleError otherwise."""
    for name in ROLE_NAMES:
        if value.strip().lower() == name.lower():
            return name
    raise RoleError(f"Invalid role name {value!r}: choose Owner or Maintainer.")


def find_project(session: Session, name: str) -> Project | None:
    """The project with this name (any spelling that normalizes to it), or None."""
    normalized = canonicalize_name(name)
    return session.scalar(select(Project).where(Project.normalized_name == normalized))


def role_of(session: Session, user_id: int, project_id: int) -> Role | None:
    """The user's role on the project, or None."""
    return session.scalar(
        select(Role).where(Role.user_id == user_id, Role.project_id == project_id)
    )


def lock_project(session: Session, project: Project) -> None:
    """Lock the project row for the rest of the transaction."""
    # Serializes role changes per project on PostgreSQL (SQLite writers already queue).
    session.scalar(select(Project.id).where(Project.id == project.id).with_for_update())


def owner_count(session: Session, project_id: int) -> int:
    """How many Owners the project has."""
    return (
        session.scalar(
            select(func.count(Role.id)).where(
                Role.project_id == project_id, Role.role_name == ROLE_OWNER
            )
        )
        or 0
    )


def owners_of(session: Session, project_id: int) -> list[User]:
    """The project's Owners: in person, or through the organization that owns it."""
    personal = list(
        session.scalars(
            select(User)
            .join(Role, Role.user_id == User.id)
            .where(Role.project_id == project_id, Role.role_name == ROLE_OWNER)
            .order_by(User.id)
        )
    )
    via_org = owner_ids_via_org(session, project_id) - {u.id for u in personal}
    if not via_org:
        return personal
    return personal + list(
        session.scalars(select(User).where(User.id.in_(via_org)).order_by(User.id))
    )


def effective_role(session: Session, user_id: int, project_id: int) -> str | None:
    """The strongest role the user holds on the project: their own (a ``Role``) or one given
    by the organization that owns it (as an org owner or manager, or through a team: see
    :func:`stockade.orgs.services.project_role_via_org`). The one check every permission on a
    project goes through; None when the user has no role."""
    own = session.scalar(
        select(Role.role_name).where(Role.user_id == user_id, Role.project_id == project_id)
    )
    if own == ROLE_OWNER:
        return own
    via_org = project_role_via_org(session, user_id, project_id)
    if via_org == ROLE_OWNER:
        return via_org
    return own or via_org


def require_owner(session: Session, actor: User, project: Project) -> None:
    """NotAllowed unless ``actor`` is an active Owner of the project (in person or through its
    organization) or an administrator."""
    if not actor.is_active:
        raise NotAllowed("Your account is disabled.")
    if actor.is_admin:
        return
    if effective_role(session, actor.id, project.id) != ROLE_OWNER:
        raise NotAllowed(f"Only owners of project {project.name!r} can manage its roles.")


def new_role(session: Session, user: User, project: Project, role_name: str) -> Role:
    """Add the role; a second role for the same user and project is a RoleError."""
    role = Role(user_id=user.id, project_id=project.id, role_name=role_name)
    try:
        with session.begin_nested():
            session.add(role)
    except IntegrityError as exc:
        # The unique constraint on (user, project) is the real guard against races.
        raise RoleError(
            f"User {user.username!r} already has a role on project {project.name!r}."
        ) from exc
    return role


def project_role(session: Session, project: Project, role_id: int) -> tuple[Role, User]:
    """The role ``role_id`` of this project and its user; RoleNotFound otherwise."""
    found = session.execute(
        select(Role, User)
        .join(User, User.id == Role.user_id)
        .where(Role.id == role_id, Role.project_id == project.id)
    ).one_or_none()
    if found is None:
        raise RoleNotFound("Could not find role.")
    return found[0], found[1]


def pending_invitation(invitation: RoleInvitation | None, *, now: dt.datetime) -> RoleInvitation:
    """The invitation if it can still be answered. An expired one is marked "expired" and
    refused with InvitationExpired."""
    if invitation is None:
        raise RoleNotFound("Role invitation no longer exists.")
    if invitation.status != "pending":
        raise RoleError(f"This invitation is no longer pending: it was {invitation.status}.")
    if invitation.expires_at <= now:
        invitation.status = "expired"
        raise InvitationExpired(
            "This invitation has expired. Ask an owner of the project for a new one."
        )
    return invitation


def delete_role(
    session: Session,
    project: Project,
    role: Role,
    user: User,
    *,
    actor_id: int | None,
    origin: Origin,
    reason: str,
) -> None:
    """Delete a role and record it, unless it is the project's last Owner's."""
    if role.role_name == ROLE_OWNER and owner_count(session, project.id) <= 1:
        who = "yourself" if actor_id == user.id else repr(user.username)
        raise RoleError(
            f"Cannot remove {who} as sole owner of project {project.name!r}: a project must "
            "keep at least one owner. Add another owner first."
        )
    session.delete(role)
    record(
        session,
        "project:role:remove",
        origin=origin,
        actor_id=actor_id,
        user_id=user.id,
        project_id=project.id,
        username=user.username,
        role=role.role_name,
        reason=reason,
    )
