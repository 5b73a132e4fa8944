"""Changes of ownership that show on projects' simple pages (PEP 752's ``namespaces``): a
namespace granted or revoked, a project moved into or out of an organization. Each journals
and re-renders every project it concerns in the caller's transaction, so mirrors and other
workers see the change like any other."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from stockade.events.services import Origin
from stockade.index.models import Project
from stockade.index.state import journal, rerender
from stockade.orgs import namespaces
from stockade.orgs import services as orgs
from stockade.orgs.models import Namespace, Organization

__all__ = ["add_org_project", "grant_namespace", "remove_org_project", "revoke_namespace"]


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
