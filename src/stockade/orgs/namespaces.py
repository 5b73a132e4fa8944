"""PEP 752 namespaces: name prefixes an administrator grants to an organization.

A grant of ``acme`` covers the project ``acme`` and every project whose normalized name starts
with ``acme-`` (never ``acmefoo``). Grants of different organizations never overlap: a grant
that would contain or fall inside another org's is refused (PEP 752 "Grants MUST NOT overlap
ownership"); an org may hold a namespace and its children. A namespace has at most
``max_hyphens`` hyphens (the PEP's depth limit, the ``namespace_max_hyphens`` setting).

An upload under a namespace needs the grant's org: its projects take uploads by their roles, and
a new project may be created only by the org's owners and managers (it then belongs to the org).
A project that existed before the grant and belongs to someone else keeps working (the PEP's
exception): it is shown with ``owned: false``. Anything else is refused with the PEP's 409.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.errors import ServiceError
from stockade.events.services import Origin, record
from stockade.orgs.models import (
    ORG_ACTIVE,
    ORG_MANAGER,
    ORG_OWNER,
    Namespace,
    Organization,
    OrgMember,
    OrgProject,
)

__all__ = [
    "NamespaceDetail",
    "NamespaceError",
    "NamespaceMatch",
    "adopt",
    "detail",
    "grant",
    "list_grants",
    "matches",
    "normalize",
    "project_namespaces",
    "revoke",
    "under_namespace",
    "upload_refusal",
]

# A valid project name (the core metadata spec's name format).
_VALID = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


class NamespaceError(ServiceError):
    """A refused namespace grant or upload."""


@dataclass(frozen=True)
class NamespaceMatch:
    """A namespace a project's name falls under, as PEP 752's project detail shows it."""

    name: str
    owned: bool


@dataclass(frozen=True)
class NamespaceDetail:
    """PEP 752's namespace detail."""

    name: str
    parent: str | None
    children: tuple[str, ...]
    owner: str


def normalize(name: str) -> str:
    """The namespace's normalized name; a 400 unless it is a valid project name."""
    if not _VALID.match(name.strip()):
        raise NamespaceError(
            400, f"{name!r} is not a valid namespace: it must be a valid project name."
        )
    return canonicalize_name(name.strip())


def _prefixes(normalized_name: str) -> list[str]:
    """Every namespace that would cover this name: ``a-b-c`` → ``a``, ``a-b``, ``a-b-c``."""
    parts = normalized_name.split("-")
    return ["-".join(parts[: i + 1]) for i in range(len(parts))]


def grant(
    session: Session,
    name: str,
    org: Organization,
    *,
    max_hyphens: int,
    origin: Origin,
    actor_id: int | None,
) -> Namespace:
    """Reserve the namespace ``name`` for ``org`` (an administrator's act)."""
    normalized = normalize(name)
    if org.status != ORG_ACTIVE:
        raise NamespaceError(409, f"Organization {org.name!r} is not approved yet.")
    if normalized.count("-") > max_hyphens:
        raise NamespaceError(
            400,
            f"Namespace {normalized!r} is too deep: at most {max_hyphens} hyphen(s) "
            "(namespace_max_hyphens).",
        )
    proposed = normalized + "-"
    for existing, owner_id, owner_name in session.execute(
        select(Namespace.name, Namespace.org_id, Organization.name).join(
            Organization, Organization.id == Namespace.org_id
        )
    ):
        if existing == normalized:
            raise NamespaceError(409, f"Namespace {normalized!r} is already granted.")
        current = existing + "-"
        if owner_id != org.id and (current.startswith(proposed) or proposed.startswith(current)):
            raise NamespaceError(
                409,
                f"Namespace {normalized!r} overlaps {existing!r}, granted to organization "
                f"{owner_name!r} (PEP 752: grants must not overlap ownership).",
            )
    namespace = Namespace(name=normalized, org_id=org.id)
    session.add(namespace)
    session.flush()
    record(
        session,
        "namespace:grant",
        origin=origin,
        actor_id=actor_id,
        org_id=org.id,
        namespace=normalized,
        org=org.name,
    )
    return namespace


def revoke(session: Session, name: str, *, origin: Origin, actor_id: int | None) -> Namespace:
    """Remove the grant of ``name`` (returned, deleted in this transaction)."""
    normalized = normalize(name)
    namespace = session.scalar(select(Namespace).where(Namespace.name == normalized))
    if namespace is None:
        raise NamespaceError(404, f"No namespace {normalized!r} is granted.")
    session.delete(namespace)
    record(
        session,
        "namespace:revoke",
        origin=origin,
        actor_id=actor_id,
        org_id=namespace.org_id,
        namespace=normalized,
    )
    session.flush()
    return namespace


def matches(session: Session, normalized_name: str) -> list[Namespace]:
    """The grants covering this project name, shortest first."""
    found = session.scalars(
        select(Namespace).where(Namespace.name.in_(_prefixes(normalized_name)))
    ).all()
    return sorted(found, key=lambda n: len(n.name))


def under_namespace(session: Session, normalized_name: str) -> bool:
    """Whether any grant covers this name."""
    return bool(matches(session, normalized_name))


def project_namespaces(
    session: Session, project_id: int, normalized_name: str
) -> tuple[NamespaceMatch, ...] | None:
    """PEP 752's ``namespaces`` of a project's detail: None when no grant covers it."""
    found = matches(session, normalized_name)
    if not found:
        return None
    org_id = session.scalar(select(OrgProject.org_id).where(OrgProject.project_id == project_id))
    return tuple(NamespaceMatch(name=n.name, owned=n.org_id == org_id) for n in found)


def upload_refusal(
    session: Session,
    normalized_name: str,
    *,
    project_id: int | None,
    project_created_at: dt.datetime | None,
    user_id: int,
) -> str | None:
    """Why an upload of this name breaks a namespace grant (the caller answers 409), or None.

    ``project_id`` None: the upload creates the project, which only the owners and managers of
    the grant's org may do. An existing project must belong to the grant's org, unless it was
    created before the grant (the PEP's exception for projects that existed before)."""
    found = matches(session, normalized_name)
    if not found:
        return None
    # Grants of different orgs never overlap, so every match is the same org's.
    namespace = found[-1]
    if project_id is None:
        role = session.scalar(
            select(OrgMember.role)
            .join(Organization, Organization.id == OrgMember.org_id)
            .where(
                OrgMember.org_id == namespace.org_id,
                OrgMember.user_id == user_id,
                Organization.status == ORG_ACTIVE,
            )
        )
        if role in (ORG_OWNER, ORG_MANAGER):
            return None
    else:
        owner = session.scalar(select(OrgProject.org_id).where(OrgProject.project_id == project_id))
        if owner == namespace.org_id:
            return None
        granted = min(n.created_at for n in found)
        if project_created_at is not None and project_created_at < granted:
            return None
    org_name = session.scalar(select(Organization.name).where(Organization.id == namespace.org_id))
    return (
        f"The name {normalized_name!r} is in the namespace {namespace.name!r}, reserved for "
        f"the organization {org_name!r}: only its owners and managers may create projects "
        "in it (PEP 752, https://peps.python.org/pep-0752/)."
    )


def adopt(session: Session, project_id: int, normalized_name: str, *, user_id: int) -> None:
    """A project just created under a namespace by one of the grant's org's owners or
    managers belongs to that org (the upload and trusted-publishing checks refuse anyone
    else; a project an administrator's import creates for someone else stays theirs)."""
    found = matches(session, normalized_name)
    if not found or session.get(OrgProject, project_id) is not None:
        return
    org_id = found[-1].org_id
    role = session.scalar(
        select(OrgMember.role).where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
    )
    if role in (ORG_OWNER, ORG_MANAGER):
        session.add(OrgProject(project_id=project_id, org_id=org_id))
        session.flush()


def list_grants(session: Session) -> list[tuple[str, str]]:
    """Every grant: (namespace, owning org's name), by namespace."""
    rows = session.execute(
        select(Namespace.name, Organization.name).join(
            Organization, Organization.id == Namespace.org_id
        )
    )
    # Sorted here: the database's collation may order hyphens differently.
    return sorted((n, o) for n, o in rows)


def detail(session: Session, name: str) -> NamespaceDetail | None:
    """PEP 752's namespace detail of a granted namespace, or None."""
    normalized = canonicalize_name(name)
    found = session.execute(
        select(Namespace.name, Organization.name)
        .join(Organization, Organization.id == Namespace.org_id)
        .where(Namespace.name == normalized)
    ).one_or_none()
    if found is None:
        return None
    # PEP 752: the parent drops the last hyphenated component, a child adds exactly one.
    parent_name = normalized.rpartition("-")[0] or None
    parent = (
        session.scalar(select(Namespace.name).where(Namespace.name == parent_name))
        if parent_name
        else None
    )
    depth = normalized.count("-") + 1
    children = sorted(
        c
        for c in session.scalars(
            select(Namespace.name).where(Namespace.name.like(normalized + "-%"))
        )
        if c.count("-") == depth
    )
    return NamespaceDetail(name=normalized, parent=parent, children=tuple(children), owner=found[1])
