"""Changes of ownership that show on projects' simple pages (PEP 752's ``namespaces``): a
namespace granted or revoked, a project moved into or out of an organization. Each journals
and re-renders every project it concerns in the caller's transaction, so mirrors and other
workers see the change like any other."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.events.services import Origin, record
from stockade.index.models import ROLE_OWNER, Project, Role
from stockade.index.state import journal, rerender
from stockade.orgs import namespaces
from stockade.orgs import services as orgs
from stockade.orgs.models import ORG_OWNER, Namespace, Organization, OrgProject, OrgTransfer

__all__ = [
    "add_org_project",
    "confirm_transfer",
    "grant_namespace",
    "pending_transfers",
    "remove_org_project",
    "request_transfer",
    "revoke_namespace",
]


def _refresh(session: Session, projects: list[Project], action: str, actor_id: int | None) -> None:
    for project in projects:
        journal(session, project, action, version=None, user_id=actor_id)
        rerender(session, project)


def _covered(session: Session, namespace: str) -> list[Project]:
    # Normalized names hold only [a-z0-9-]: no LIKE wildcard can hide in the namespace.
    return list(
        session.scalars(
            select(Project).where(
                Project.deletion_id.is_(None),
                or_(
                    Project.normalized_name == namespace,
                    Project.normalized_name.like(namespace + "-%"),
                ),
            )
        )
    )


def grant_namespace(
    session: Session,
    name: str,
    org: Organization,
    *,
    max_hyphens: int,
    origin: Origin,
    actor_id: int | None,
) -> Namespace:
    """Grant the namespace to ``org`` (:func:`stockade.orgs.namespaces.grant`) and re-render
    the projects it covers."""
    grant = namespaces.grant(
        session, name, org, max_hyphens=max_hyphens, origin=origin, actor_id=actor_id
    )
    _refresh(session, _covered(session, grant.name), "namespace granted", actor_id)
    return grant


def revoke_namespace(session: Session, name: str, *, origin: Origin, actor_id: int | None) -> None:
    """Revoke the grant and re-render the projects it covered (PEP 752: their ``namespaces``
    become null unless another grant covers them)."""
    gone = namespaces.revoke(session, name, origin=origin, actor_id=actor_id)
    _refresh(session, _covered(session, gone.name), "namespace revoked", actor_id)


def add_org_project(
    session: Session, org: Organization, project: Project, *, origin: Origin, actor_id: int | None
) -> None:
    """The org now owns the project; its page shows the namespaces it falls under as owned."""
    orgs.add_project(session, org, project.id, project.name, origin=origin, actor_id=actor_id)
    _refresh(session, [project], "organization changed", actor_id)


def remove_org_project(
    session: Session, org: Organization, project: Project, *, origin: Origin, actor_id: int | None
) -> None:
    """The org gives the project up; its page shows that."""
    orgs.remove_project(session, org, project.id, project.name, origin=origin, actor_id=actor_id)
    _refresh(session, [project], "organization changed", actor_id)


def _sides(session: Session, org: Organization, project: Project, user: User) -> set[str]:
    """The sides of a move ``user`` speaks for: "org" as an owner of the org, "project" as an
    Owner in person of the project (the one who keeps it when it leaves the org)."""
    sides = set()
    if orgs.org_role(session, org.id, user.id) == ORG_OWNER:
        sides.add("org")
    own = session.scalar(
        select(Role.role_name).where(Role.project_id == project.id, Role.user_id == user.id)
    )
    if own == ROLE_OWNER:
        sides.add("project")
    return sides


def _complete(
    session: Session, move: OrgTransfer, org: Organization, project: Project, origin: Origin,
    actor_id: int,
) -> None:  # fmt: skip
    session.delete(move)
    session.flush()
    if move.direction == "in":
        add_org_project(session, org, project, origin=origin, actor_id=actor_id)
    else:
        remove_org_project(session, org, project, origin=origin, actor_id=actor_id)


def _transfer_event(
    session: Session,
    tag: str,
    move: OrgTransfer,
    org: Organization,
    project: Project,
    actor: User,
    origin: Origin,
) -> None:
    record(
        session,
        tag,
        origin=origin,
        actor_id=actor.id,
        project_id=project.id,
        org_id=org.id,
        org=org.name,
        project=project.name,
        direction=move.direction,
    )


def request_transfer(
    session: Session,
    org: Organization,
    project: Project,
    *,
    actor: User,
    origin: Origin,
) -> OrgTransfer | None:
    """Ask to move the project into the org (or out of it, when the org owns it). The asker
    confirms their side(s); the move happens once the other side confirms too (at once when
    the asker speaks for both). Returns the pending move, or None when it is done."""
    if org.status != "active":
        raise orgs.OrgError(409, f"Organization {org.name!r} is not approved yet.")
    owner = session.get(OrgProject, project.id)
    if owner is not None and owner.org_id != org.id:
        raise orgs.OrgError(409, f"Project {project.name!r} belongs to another organization.")
    direction = "out" if owner is not None else "in"
    sides = _sides(session, org, project, actor)
    if not sides:
        raise orgs.OrgError(
            403,
            f"Only an owner of organization {org.name!r} or an owner of project "
            f"{project.name!r} can ask to move it.",
        )
    if session.scalar(select(OrgTransfer.id).where(OrgTransfer.project_id == project.id)):
        raise orgs.OrgError(409, f"A move of project {project.name!r} is already waiting.")
    move = OrgTransfer(
        org_id=org.id,
        project_id=project.id,
        direction=direction,
        org_confirmed_by_id=actor.id if "org" in sides else None,
        project_confirmed_by_id=actor.id if "project" in sides else None,
    )
    session.add(move)
    session.flush()
    _transfer_event(session, "org:transfer:request", move, org, project, actor, origin)
    if move.org_confirmed_by_id and move.project_confirmed_by_id:
        _complete(session, move, org, project, origin, actor.id)
        return None
    return move


def confirm_transfer(session: Session, move: OrgTransfer, *, actor: User, origin: Origin) -> bool:
    """The other side confirms a waiting move; True when the move is done."""
    org = session.get(Organization, move.org_id)
    project = session.get(Project, move.project_id)
    assert org is not None and project is not None  # both cascade the move away
    sides = _sides(session, org, project, actor)
    waiting = {
        side
        for side, done in (
            ("org", move.org_confirmed_by_id),
            ("project", move.project_confirmed_by_id),
        )
        if done is None
    }
    if not sides & waiting:
        raise orgs.OrgError(
            403, f"The move of project {project.name!r} waits for the other side's confirmation."
        )
    if "org" in sides & waiting:
        move.org_confirmed_by_id = actor.id
    if "project" in sides & waiting:
        move.project_confirmed_by_id = actor.id
    _transfer_event(session, "org:transfer:confirm", move, org, project, actor, origin)
    if move.org_confirmed_by_id and move.project_confirmed_by_id:
        _complete(session, move, org, project, origin, actor.id)
        return True
    return False


def pending_transfers(session: Session, user: User) -> list[tuple[OrgTransfer, str, str]]:
    """The moves waiting for ``user``'s confirmation: (move, org name, project name)."""
    rows = session.execute(
        select(OrgTransfer, Organization, Project)
        .join(Organization, Organization.id == OrgTransfer.org_id)
        .join(Project, Project.id == OrgTransfer.project_id)
        .order_by(OrgTransfer.id)
    ).all()
    found = []
    for move, org, project in rows:
        sides = _sides(session, org, project, user)
        if ("org" in sides and move.org_confirmed_by_id is None) or (
            "project" in sides and move.project_confirmed_by_id is None
        ):
            found.append((move, org.name, project.name))
    return found
