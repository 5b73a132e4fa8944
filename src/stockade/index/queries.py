"""What the project-management pages show: a user's projects (also read by the API-token
pages and the CLI) and invitations, a project's collaborators, pending invitations, releases and
links."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from stockade.accounts.models import User
from stockade.db.base import utcnow
from stockade.index.models import ROLE_OWNER, File, Project, Release, Role, RoleInvitation
from stockade.index.state import version_key

__all__ = [
    "CollaboratorView",
    "InvitationView",
    "ProjectRoleView",
    "ReleaseView",
    "collaborators",
    "pending_for_project",
    "pending_for_user",
    "project_links",
    "project_releases",
    "user_projects",
]


@dataclass(frozen=True)
class ProjectRoleView:
    """One of a user's projects and their role on it."""

    name: str
    normalized_name: str
    role: str


@dataclass(frozen=True)
class InvitationView:
    """A pending, unexpired invitation."""

    id: int
    project: str
    normalized_name: str
    username: str
    role: str
    invited_by: str | None
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class CollaboratorView:
    """A user's role on a project."""

    role_id: int
    user_id: int
    username: str
    role: str
    since: dt.datetime


@dataclass(frozen=True)
class ReleaseView:
    """A release in the management overview."""

    version: str
    created_at: dt.datetime
    yanked: bool
    files: int


def user_projects(session: Session, user_id: int) -> list[ProjectRoleView]:
    """The projects a user has a role on, by normalized name: the management overview, the
    projects an API token may be scoped to, and ``stockade user show``. Deleted projects, whose
    roles are kept only to reserve the name for their former owners, are left out."""
    rows = session.execute(
        select(Project.name, Project.normalized_name, Role.role_name)
        .join(Role, Role.project_id == Project.id)
        .where(Role.user_id == user_id, Project.deletion_id.is_(None))
        .order_by(Project.normalized_name)
    ).all()
    return [ProjectRoleView(name, normalized, role) for name, normalized, role in rows]


def _invitations(session: Session, *conditions: object) -> list[InvitationView]:
    invitee, inviter = aliased(User), aliased(User)
    rows = session.execute(
        select(RoleInvitation, Project.name, Project.normalized_name, invitee.username)
        .add_columns(inviter.username)
        .join(Project, Project.id == RoleInvitation.project_id)
        .join(invitee, invitee.id == RoleInvitation.user_id)
        .outerjoin(inviter, inviter.id == RoleInvitation.invited_by_id)
        .where(
            RoleInvitation.status == "pending",
            RoleInvitation.expires_at > utcnow(),
            Project.deletion_id.is_(None),  # a deleted project's invitations cannot be answered
            *conditions,  # type: ignore[arg-type]
        )
        .order_by(RoleInvitation.id)
    ).all()
    return [
        InvitationView(
            id=inv.id,
            project=name,
            normalized_name=normalized,
            username=username,
            role=inv.role_name,
            invited_by=by,
            created_at=inv.created_at,
            expires_at=inv.expires_at,
        )
        for inv, name, normalized, username, by in rows
    ]


def pending_for_user(session: Session, user_id: int) -> list[InvitationView]:
    """Invitations the user can still accept or decline."""
    return _invitations(session, RoleInvitation.user_id == user_id)


def pending_for_project(session: Session, project_id: int) -> list[InvitationView]:
    """A project's invitations still waiting for an answer."""
    return _invitations(session, RoleInvitation.project_id == project_id)


def collaborators(session: Session, project_id: int) -> list[CollaboratorView]:
    """Everyone with a role on the project: owners first, then by name."""
    rows = session.execute(
        select(Role, User.username)
        .join(User, User.id == Role.user_id)
        .where(Role.project_id == project_id)
    ).all()
    views = [CollaboratorView(r.id, r.user_id, name, r.role_name, r.created_at) for r, name in rows]
    return sorted(views, key=lambda v: (v.role != ROLE_OWNER, v.username.lower()))


def project_releases(session: Session, project_id: int) -> list[ReleaseView]:
    """The project's releases, newest version first, with their file counts."""
    rows = session.execute(
        select(Release, func.count(File.id))
        .outerjoin(File, (File.release_id == Release.id) & File.deletion_id.is_(None))
        .where(Release.project_id == project_id, Release.deletion_id.is_(None))
        .group_by(Release.id)
    ).all()
    views = [ReleaseView(r.version, r.created_at, r.yanked, count) for r, count in rows]
    return sorted(views, key=lambda v: version_key(v.version), reverse=True)


def project_links(session: Session, project_id: int) -> list[tuple[str, str]]:
    """(label, URL) of the newest release's project URLs; only http(s) links, so a crafted
    ``javascript:`` URL is never rendered as a link."""
    releases = list(
        session.scalars(
            select(Release).where(Release.project_id == project_id, Release.deletion_id.is_(None))
        )
    )
    if not releases:
        return []
    meta = max(releases, key=lambda r: version_key(r.version)).metadata_json or {}
    links: list[tuple[str, str]] = []
    if isinstance(meta.get("home_page"), str):
        links.append(("Homepage", meta["home_page"]))
    urls = meta.get("project_urls")
    if isinstance(urls, dict):
        links.extend((str(label), str(url)) for label, url in urls.items())
    return [(label, url) for label, url in links if urlsplit(url).scheme in ("http", "https")]
