"""Organizations: asking for one and approving it, members and their roles, teams, the projects
an org owns, and the roles all of that gives a user on a project.

Org roles (no billing role here): an ``owner`` runs the org and is an Owner of every project it
owns; a ``manager`` manages teams and is a Maintainer of every project the org owns; a
``member`` gets nothing on projects but through teams. A team holds a role (Owner or Maintainer,
as a person's) on some of the org's projects, which every member of the team gets. A pending org
(waiting for an administrator's approval) gives nobody anything. Every change is an event with
the org's id, which makes the org's security history.
"""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.errors import ServiceError
from stockade.events.services import Origin, record
from stockade.orgs.models import (
    ORG_ACTIVE,
    ORG_MANAGER,
    ORG_OWNER,
    ORG_PENDING,
    ORG_ROLES,
    Organization,
    OrgMember,
    OrgProject,
    Team,
    TeamMember,
    TeamProjectRole,
)

__all__ = [
    "OrgError",
    "add_member",
    "add_project",
    "add_team_member",
    "approve_org",
    "create_team",
    "find_org",
    "find_team",
    "org_of_project",
    "org_role",
    "project_role_via_org",
    "remove_member",
    "remove_project",
    "request_org",
    "require_org",
    "requires_two_factor",
    "set_team_role",
    "set_two_factor_requirement",
]

# Roles on a project, strongest first (the same names as index's person roles).
_PROJECT_ROLES = ("Owner", "Maintainer")
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")


class OrgError(ServiceError):
    """A refused change to an organization."""


def _normalized(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise OrgError(
            400,
            f"{name!r} is not a valid {what} name: letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit, at most 100 characters.",
        )
    return canonicalize_name(name)


def find_org(session: Session, name: str) -> Organization | None:
    """The organization named ``name`` (any spelling that normalizes alike), or None."""
    if not _NAME.match(name):
        return None
    return session.scalar(
        select(Organization).where(Organization.normalized_name == canonicalize_name(name))
    )


def require_org(session: Session, name: str) -> Organization:
    """The organization named ``name``; a 404 otherwise."""
    org = find_org(session, name)
    if org is None:
        raise OrgError(404, f"No organization named {name!r}.")
    return org


def request_org(
    session: Session,
    name: str,
    *,
    owner: User,
    approval_required: bool,
    origin: Origin,
    actor_id: int | None,
) -> Organization:
    """Create the organization ``name`` with ``owner`` as its first owner: pending until an
    administrator approves it when ``approval_required`` (the ``org_approval_required``
    setting), active at once otherwise."""
    normalized = _normalized(name, "organization")
    if find_org(session, name) is not None:
        raise OrgError(409, f"An organization named {name!r} already exists.")
    org = Organization(
        name=name,
        normalized_name=normalized,
        status=ORG_PENDING if approval_required else ORG_ACTIVE,
        created_by_id=actor_id,
    )
    session.add(org)
    session.flush()
    session.add(OrgMember(org_id=org.id, user_id=owner.id, role=ORG_OWNER))
    record(
        session,
        "org:create",
        origin=origin,
        actor_id=actor_id,
        user_id=owner.id,
        org_id=org.id,
        org=org.name,
        owner=owner.username,
        status=org.status,
    )
    session.flush()
    return org


def approve_org(
    session: Session, org: Organization, *, origin: Origin, actor_id: int | None
) -> None:
    """An administrator approves a pending organization (nothing to do when it is active)."""
    if org.status == ORG_ACTIVE:
        return
    org.status = ORG_ACTIVE
    record(session, "org:approve", origin=origin, actor_id=actor_id, org_id=org.id, org=org.name)


def org_role(session: Session, org_id: int, user_id: int) -> str | None:
    """The user's role in the organization, or None."""
    return session.scalar(
        select(OrgMember.role).where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
    )


def _owner_count(session: Session, org_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OrgMember)
            .where(OrgMember.org_id == org_id, OrgMember.role == ORG_OWNER)
        )
        or 0
    )


def add_member(
    session: Session,
    org: Organization,
    user: User,
    role: str,
    *,
    origin: Origin,
    actor_id: int | None,
    public: bool = False,
) -> OrgMember:
    """Give ``user`` the org ``role`` (owner, manager or member), adding them or changing the
    role they have; the last owner cannot be demoted."""
    if role not in ORG_ROLES:
        raise OrgError(400, f"Unknown organization role {role!r}: one of {', '.join(ORG_ROLES)}.")
    if not user.is_active:
        raise OrgError(400, f"User {user.username!r} is disabled.")
    member = session.scalar(
        select(OrgMember)
        .where(OrgMember.org_id == org.id, OrgMember.user_id == user.id)
        .with_for_update()
    )
    if member is None:
        member = OrgMember(org_id=org.id, user_id=user.id, role=role, public=public)
        session.add(member)
        tag = "org:member:add"
    else:
        if member.role == role:
            return member
        if member.role == ORG_OWNER and _owner_count(session, org.id) <= 1:
            raise OrgError(409, f"{user.username!r} is the last owner of {org.name!r}.")
        member.role = role
        tag = "org:member:role"
    record(
        session,
        tag,
        origin=origin,
        actor_id=actor_id,
        user_id=user.id,
        org_id=org.id,
        org=org.name,
        username=user.username,
        role=role,
    )
    session.flush()
    return member


def remove_member(
    session: Session, org: Organization, user: User, *, origin: Origin, actor_id: int | None
) -> None:
    """Take ``user`` out of the org and its teams; the last owner cannot leave."""
    member = session.scalar(
        select(OrgMember).where(OrgMember.org_id == org.id, OrgMember.user_id == user.id)
    )
    if member is None:
        raise OrgError(404, f"{user.username!r} is not a member of {org.name!r}.")
    if member.role == ORG_OWNER and _owner_count(session, org.id) <= 1:
        raise OrgError(409, f"{user.username!r} is the last owner of {org.name!r}.")
    session.execute(
        delete(TeamMember).where(
            TeamMember.user_id == user.id,
            TeamMember.team_id.in_(select(Team.id).where(Team.org_id == org.id)),
        )
    )
    session.delete(member)
    record(
        session,
        "org:member:remove",
        origin=origin,
        actor_id=actor_id,
        user_id=user.id,
        org_id=org.id,
        org=org.name,
        username=user.username,
    )


def set_two_factor_requirement(
    session: Session, org: Organization, required: bool, *, origin: Origin, actor_id: int | None
) -> None:
    """Require (or stop requiring) 2FA of everyone acting on the org's projects."""
    if org.require_two_factor == required:
        return
    org.require_two_factor = required
    record(
        session,
        "org:2fa:require" if required else "org:2fa:waive",
        origin=origin,
        actor_id=actor_id,
        org_id=org.id,
        org=org.name,
    )


def find_team(session: Session, org: Organization, name: str) -> Team | None:
    """The org's team named ``name``, or None."""
    if not _NAME.match(name):
        return None
    return session.scalar(
        select(Team).where(Team.org_id == org.id, Team.normalized_name == canonicalize_name(name))
    )


def create_team(
    session: Session, org: Organization, name: str, *, origin: Origin, actor_id: int | None
) -> Team:
    """A new, empty team in the org."""
    normalized = _normalized(name, "team")
    if find_team(session, org, name) is not None:
        raise OrgError(409, f"Organization {org.name!r} already has a team named {name!r}.")
    team = Team(org_id=org.id, name=name, normalized_name=normalized)
    session.add(team)
    session.flush()
    record(session, "org:team:create", origin=origin, actor_id=actor_id, org_id=org.id, team=name)
    return team


def add_team_member(
    session: Session, team: Team, user: User, *, origin: Origin, actor_id: int | None
) -> None:
    """Put ``user`` (a member of the team's org) in the team."""
    if org_role(session, team.org_id, user.id) is None:
        raise OrgError(
            400, f"{user.username!r} must be a member of the organization to join a team."
        )
    if session.get(TeamMember, (team.id, user.id)) is not None:
        return
    session.add(TeamMember(team_id=team.id, user_id=user.id))
    record(
        session,
        "org:team:member:add",
        origin=origin,
        actor_id=actor_id,
        user_id=user.id,
        org_id=team.org_id,
        team=team.name,
        username=user.username,
    )
    session.flush()


def set_team_role(
    session: Session,
    team: Team,
    project_id: int,
    role_name: str | None,
    *,
    origin: Origin,
    actor_id: int | None,
) -> None:
    """Give the team ``role_name`` (Owner or Maintainer) on one of its org's projects, or take
    its role away (None)."""
    if role_name is not None and role_name not in _PROJECT_ROLES:
        raise OrgError(400, f"Unknown project role {role_name!r}: Owner or Maintainer.")
    owner = session.get(OrgProject, project_id)
    if owner is None or owner.org_id != team.org_id:
        raise OrgError(400, "A team can only have a role on a project its organization owns.")
    current = session.scalar(
        select(TeamProjectRole).where(
            TeamProjectRole.team_id == team.id, TeamProjectRole.project_id == project_id
        )
    )
    if role_name is None:
        if current is None:
            return
        session.delete(current)
    elif current is None:
        session.add(TeamProjectRole(team_id=team.id, project_id=project_id, role_name=role_name))
    elif current.role_name == role_name:
        return
    else:
        current.role_name = role_name
    record(
        session,
        "org:team:role",
        origin=origin,
        actor_id=actor_id,
        project_id=project_id,
        org_id=team.org_id,
        team=team.name,
        role=role_name,
    )
    session.flush()


def org_of_project(session: Session, project_id: int) -> Organization | None:
    """The organization that owns the project, or None."""
    return session.scalar(
        select(Organization)
        .join(OrgProject, OrgProject.org_id == Organization.id)
        .where(OrgProject.project_id == project_id)
    )


def add_project(
    session: Session,
    org: Organization,
    project_id: int,
    project_name: str,
    *,
    origin: Origin,
    actor_id: int | None,
) -> None:
    """The org now owns the project (which no other org owns)."""
    current = session.get(OrgProject, project_id)
    if current is not None:
        if current.org_id == org.id:
            return
        raise OrgError(409, f"Project {project_name!r} already belongs to another organization.")
    session.add(OrgProject(project_id=project_id, org_id=org.id))
    record(
        session,
        "org:project:add",
        origin=origin,
        actor_id=actor_id,
        project_id=project_id,
        org_id=org.id,
        org=org.name,
        project=project_name,
    )
    session.flush()


def remove_project(
    session: Session,
    org: Organization,
    project_id: int,
    project_name: str,
    *,
    origin: Origin,
    actor_id: int | None,
) -> None:
    """The org gives the project up; its teams lose their roles on it."""
    current = session.get(OrgProject, project_id)
    if current is None or current.org_id != org.id:
        raise OrgError(404, f"Project {project_name!r} does not belong to {org.name!r}.")
    session.execute(
        delete(TeamProjectRole).where(
            TeamProjectRole.project_id == project_id,
            TeamProjectRole.team_id.in_(select(Team.id).where(Team.org_id == org.id)),
        )
    )
    session.delete(current)
    record(
        session,
        "org:project:remove",
        origin=origin,
        actor_id=actor_id,
        project_id=project_id,
        org_id=org.id,
        org=org.name,
        project=project_name,
    )


def _active_org_id(session: Session, project_id: int) -> int | None:
    """The id of the approved org that owns the project, or None."""
    found = session.execute(
        select(Organization.id, Organization.status)
        .join(OrgProject, OrgProject.org_id == Organization.id)
        .where(OrgProject.project_id == project_id)
    ).one_or_none()
    return found[0] if found is not None and found[1] == ORG_ACTIVE else None


def project_role_via_org(session: Session, user_id: int, project_id: int) -> str | None:
    """The strongest role (Owner, Maintainer) the user holds on the project through the org
    that owns it: as its owner or manager, or through a team; None when none."""
    org_id = _active_org_id(session, project_id)
    if org_id is None:
        return None
    role = org_role(session, org_id, user_id)
    if role is None:
        return None
    if role == ORG_OWNER:
        return "Owner"
    roles = set(
        session.scalars(
            select(TeamProjectRole.role_name)
            .join(TeamMember, TeamMember.team_id == TeamProjectRole.team_id)
            .where(TeamMember.user_id == user_id, TeamProjectRole.project_id == project_id)
        )
    )
    if role == ORG_MANAGER:
        roles.add("Maintainer")
    for name in _PROJECT_ROLES:
        if name in roles:
            return name
    return None


def owner_ids_via_org(session: Session, project_id: int) -> set[int]:
    """The users who are Owners of the project through the (approved) org that owns it: its
    owners, and the members of its teams with the Owner role on the project."""
    org_id = _active_org_id(session, project_id)
    if org_id is None:
        return set()
    owners = set(
        session.scalars(
            select(OrgMember.user_id).where(OrgMember.org_id == org_id, OrgMember.role == ORG_OWNER)
        )
    )
    members = set(session.scalars(select(OrgMember.user_id).where(OrgMember.org_id == org_id)))
    owners |= members & set(
        session.scalars(
            select(TeamMember.user_id)
            .join(TeamProjectRole, TeamProjectRole.team_id == TeamMember.team_id)
            .where(TeamProjectRole.project_id == project_id, TeamProjectRole.role_name == "Owner")
        )
    )
    return owners


def requires_two_factor(session: Session, project_id: int) -> bool:
    """Whether the (approved) organization owning the project requires 2FA of everyone acting
    on its projects."""
    return bool(
        session.scalar(
            select(Organization.require_two_factor)
            .join(OrgProject, OrgProject.org_id == Organization.id)
            .where(OrgProject.project_id == project_id, Organization.status == ORG_ACTIVE)
        )
    )
