"""`stockade org …` and `stockade namespace …`: organizations, their teams and projects, and
PEP 752 namespace grants, from the shell.

An operator's actions: an org created here is approved at once, and members, teams and projects
are set directly. Every change is an event on the org's security history (`stockade org history`).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.accounts.services import find_user
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, group, in_transaction, settings_from
from stockade.errors import ServiceError
from stockade.events.models import Event
from stockade.events.sentences import sentence
from stockade.index.models import Project
from stockade.index.ownership import (
    add_org_project,
    grant_namespace,
    remove_org_project,
    revoke_namespace,
)
from stockade.index.rules import find_project
from stockade.orgs import namespaces
from stockade.orgs import services as orgs
from stockade.orgs.models import Organization, Team

__all__ = ["app", "namespace_app"]

app = group(help="Manage organizations: members, teams and the projects they own.")
team_app = group(help="Manage an organization's teams.")
project_app = group(help="Move projects into and out of an organization.")
app.add_typer(team_app, name="team")
app.add_typer(project_app, name="project")
namespace_app = group(help="Grant PEP 752 namespaces (name prefixes) to organizations.")


class OrgRole(StrEnum):
    """A member's role in an organization."""

    owner = "owner"
    manager = "manager"
    member = "member"


class TeamRole(StrEnum):
    """A team's role on a project."""

    owner = "Owner"
    maintainer = "Maintainer"
    none = "none"


def _user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise ServiceError(404, f"no user named {name!r}")
    return user


def _project(session: Session, name: str) -> Project:
    project = find_project(session, name)
    if project is None or project.deletion_id is not None:
        raise ServiceError(404, f"no project named {name!r}")
    return project


def _team(session: Session, org: Organization, name: str) -> Team:
    team = orgs.find_team(session, org, name)
    if team is None:
        raise ServiceError(404, f"organization {org.name!r} has no team named {name!r}")
    return team


@app.command("create")
def org_create(
    name: str,
    owner: Annotated[str, typer.Option("--owner", help="The org's first owner (a username).")],
    data: DataOpt = None,
) -> None:
    """Create the organization NAME with OWNER as its owner (approved at once: the operator
    is the administrator who approves)."""

    def create(session: Session) -> str:
        org = orgs.request_org(
            session,
            name,
            owner=_user(session, owner),
            approval_required=False,
            origin=CLI_ORIGIN,
            actor_id=None,
        )
        return org.name

    err.print(f"created organization {in_transaction(data, create)} owned by {owner}")


@app.command("approve")
def org_approve(name: str, data: DataOpt = None) -> None:
    """Approve the organization NAME that a user asked for."""

    def approve(session: Session) -> None:
        orgs.approve_org(session, orgs.require_org(session, name), origin=CLI_ORIGIN, actor_id=None)

    in_transaction(data, approve)
    err.print(f"approved organization {name}")


@app.command("add-member")
def org_add_member(
    org: str,
    user: str,
    role: Annotated[OrgRole, typer.Option("--role", help="owner, manager or member.")],
    data: DataOpt = None,
) -> None:
    """Give USER the ROLE in ORG (adding them, or changing the role they have)."""

    def add(session: Session) -> None:
        orgs.add_member(
            session,
            orgs.require_org(session, org),
            _user(session, user),
            role.value,
            origin=CLI_ORIGIN,
            actor_id=None,
        )

    in_transaction(data, add)
    err.print(f"{user} is now {role.value} of {org}")


@app.command("remove-member")
def org_remove_member(org: str, user: str, data: DataOpt = None) -> None:
    """Take USER out of ORG and its teams (never the last owner)."""

    def remove(session: Session) -> None:
        orgs.remove_member(
            session,
            orgs.require_org(session, org),
            _user(session, user),
            origin=CLI_ORIGIN,
            actor_id=None,
        )

    in_transaction(data, remove)
    err.print(f"{user} is no longer a member of {org}")


@app.command("require-2fa")
def org_require_2fa(
    org: str,
    off: Annotated[bool, typer.Option("--off", help="Stop requiring it.")] = False,
    data: DataOpt = None,
) -> None:
    """Require two-factor authentication of everyone acting on ORG's projects."""

    def change(session: Session) -> None:
        orgs.set_two_factor_requirement(
            session, orgs.require_org(session, org), not off, origin=CLI_ORIGIN, actor_id=None
        )

    in_transaction(data, change)
    err.print(f"{org} {'no longer requires' if off else 'requires'} two-factor authentication")


@app.command("history")
def org_history(
    org: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    data: DataOpt = None,
) -> None:
    """ORG's security history: every change to it, newest first."""

    def read(session: Session) -> list[dict[str, Any]]:
        found = orgs.require_org(session, org)
        rows = session.execute(
            select(Event, User.username)
            .outerjoin(User, User.id == Event.actor_id)
            .where(Event.org_id == found.id)
            .order_by(Event.id.desc())
        )
        return [
            {
                "time": event.created_at.isoformat(),
                "tag": event.tag,
                "sentence": sentence(event.tag, event.details, actor),
            }
            for event, actor in rows
        ]

    rows = in_transaction(data, read, write=False)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(f"{row['time']}  {row['sentence']}")


@team_app.command("create")
def team_create(org: str, team: str, data: DataOpt = None) -> None:
    """Create the team TEAM in ORG."""

    def create(session: Session) -> None:
        orgs.create_team(
            session, orgs.require_org(session, org), team, origin=CLI_ORIGIN, actor_id=None
        )

    in_transaction(data, create)
    err.print(f"created team {team} in {org}")


@team_app.command("add-member")
def team_add_member(org: str, team: str, user: str, data: DataOpt = None) -> None:
    """Put USER (a member of ORG) in TEAM."""

    def add(session: Session) -> None:
        found = orgs.require_org(session, org)
        orgs.add_team_member(
            session,
            _team(session, found, team),
            _user(session, user),
            origin=CLI_ORIGIN,
            actor_id=None,
        )

    in_transaction(data, add)
    err.print(f"{user} is now in team {team} of {org}")


@team_app.command("role")
def team_role(
    org: str,
    team: str,
    project: str,
    role: Annotated[TeamRole, typer.Option("--role", help="Owner, Maintainer or none.")],
    data: DataOpt = None,
) -> None:
    """Give TEAM the ROLE on PROJECT (one of ORG's projects); none takes it away."""

    def change(session: Session) -> None:
        found = orgs.require_org(session, org)
        orgs.set_team_role(
            session,
            _team(session, found, team),
            _project(session, project).id,
            None if role is TeamRole.none else role.value,
            origin=CLI_ORIGIN,
            actor_id=None,
        )

    in_transaction(data, change)
    err.print(f"team {team} of {org} now has role {role.value} on {project}")


@project_app.command("add")
def project_add(org: str, project: str, data: DataOpt = None) -> None:
    """Move PROJECT into ORG (its owners keep their roles)."""

    def add(session: Session) -> None:
        add_org_project(
            session,
            orgs.require_org(session, org),
            _project(session, project),
            origin=CLI_ORIGIN,
            actor_id=None,
        )

    in_transaction(data, add)
    err.print(f"{project} now belongs to {org}")


@project_app.command("remove")
def project_remove(org: str, project: str, data: DataOpt = None) -> None:
    """Move PROJECT out of ORG (its teams lose their roles on it)."""

    def remove(session: Session) -> None:
        remove_org_project(
            session,
            orgs.require_org(session, org),
            _project(session, project),
            origin=CLI_ORIGIN,
            actor_id=None,
        )

    in_transaction(data, remove)
    err.print(f"{project} no longer belongs to {org}")


@namespace_app.command("grant")
def namespace_grant(
    namespace: str,
    org: Annotated[str, typer.Option("--org", help="The organization the prefix is for.")],
    data: DataOpt = None,
) -> None:
    """Reserve NAMESPACE (a project-name prefix) for ORG: only ORG may then create projects
    named NAMESPACE or NAMESPACE-…, and no upstream project under it is mirrored."""
    settings = settings_from(data)

    def grant(session: Session) -> str:
        found = grant_namespace(
            session,
            namespace,
            orgs.require_org(session, org),
            max_hyphens=settings.namespace_max_hyphens,
            origin=CLI_ORIGIN,
            actor_id=None,
        )
        return found.name

    err.print(f"granted namespace {in_transaction(data, grant)} to {org}")


@namespace_app.command("revoke")
def namespace_revoke(namespace: str, data: DataOpt = None) -> None:
    """Remove the grant of NAMESPACE."""
    in_transaction(
        data,
        lambda session: revoke_namespace(session, namespace, origin=CLI_ORIGIN, actor_id=None),
    )
    err.print(f"revoked namespace {namespace}")


@namespace_app.command("list")
def namespace_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    data: DataOpt = None,
) -> None:
    """Every granted namespace and the organization that holds it."""
    grants = in_transaction(data, namespaces.list_grants, write=False)
    if as_json:
        print(json.dumps([{"name": name, "owner": org} for name, org in grants], indent=2))
        return
    for name, org in grants:
        print(f"{name}\t{org}")
