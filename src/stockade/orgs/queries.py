"""Reads for an organization's public page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.orgs.models import ORG_ACTIVE, Namespace, Organization, OrgMember, OrgProject

__all__ = ["PublicOrg", "memberships", "public_org"]


@dataclass(frozen=True)
class PublicOrg:
    """What anyone may see of an approved organization."""

    name: str
    project_ids: tuple[int, ...]
    # (username, role) of the members who chose to be shown.
    members: tuple[tuple[str, str], ...]
    namespaces: tuple[str, ...]


def public_org(session: Session, org: Organization) -> PublicOrg | None:
    """The org's public page; None while it waits for approval (it has no page yet)."""
    if org.status != ORG_ACTIVE:
        return None
    projects = session.scalars(
        select(OrgProject.project_id).where(OrgProject.org_id == org.id)
    ).all()
    members = session.execute(
        select(User.username, OrgMember.role)
        .join(User, User.id == OrgMember.user_id)
        .where(OrgMember.org_id == org.id, OrgMember.public.is_(True), User.is_active.is_(True))
        .order_by(User.username)
    ).all()
    grants = session.scalars(
        select(Namespace.name).where(Namespace.org_id == org.id).order_by(Namespace.name)
    ).all()
    return PublicOrg(
        name=org.name,
        project_ids=tuple(projects),
        members=tuple((u, r) for u, r in members),
        namespaces=tuple(grants),
    )


def memberships(session: Session, user_id: int) -> list[tuple[str, str, str]]:
    """(org name, the user's role, org status) of every org the user belongs to, by name."""
    rows = session.execute(
        select(Organization.name, OrgMember.role, Organization.status)
        .join(OrgMember, OrgMember.org_id == Organization.id)
        .where(OrgMember.user_id == user_id)
        .order_by(Organization.normalized_name)
    )
    return [(n, r, st) for n, r, st in rows]
