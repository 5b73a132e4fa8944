"""Organizations, their members and teams, the projects they own, and namespace grants.

The projects table belongs to ``stockade.index``, which sits above this domain (its role check
consults org and team roles); the foreign keys name it by table only.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = [
    "ORG_ROLES",
    "Namespace",
    "OrgMember",
    "OrgProject",
    "OrgTransfer",
    "Organization",
    "Team",
    "TeamMember",
    "TeamProjectRole",
]

ORG_OWNER = "owner"
ORG_MANAGER = "manager"
ORG_MEMBER = "member"
ORG_ROLES = (ORG_OWNER, ORG_MANAGER, ORG_MEMBER)

ORG_PENDING = "pending"
ORG_ACTIVE = "active"


class Organization(Base):
    """An organization: owns projects, has members and teams, may hold namespace grants."""

    __tablename__ = "organizations"
    __table_args__ = (CheckConstraint("status IN ('pending', 'active')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    normalized_name: Mapped[str] = mapped_column(String(100), unique=True)
    # pending: asked for and waiting for an administrator's approval.
    status: Mapped[str] = mapped_column(String(20), default=ORG_PENDING)
    # Every member acting on the org's projects must have two-factor authentication.
    require_two_factor: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )


class OrgMember(Base):
    """A user's role in an organization (owner, manager or member)."""

    __tablename__ = "org_members"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id"),
        CheckConstraint("role IN ('owner', 'manager', 'member')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    # Shown on the org's public page only when the member chose so.
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Team(Base):
    """A team inside an organization, with a role on some of the org's projects."""

    __tablename__ = "org_teams"
    __table_args__ = (UniqueConstraint("org_id", "normalized_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    normalized_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamMember(Base):
    """A member of a team (always a member of the team's organization)."""

    __tablename__ = "org_team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("org_teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TeamProjectRole(Base):
    """A team's role (Owner or Maintainer, as a person's) on one of its org's projects."""

    __tablename__ = "org_team_roles"
    __table_args__ = (
        UniqueConstraint("team_id", "project_id"),
        CheckConstraint("role_name IN ('Owner', 'Maintainer')", name="role_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("org_teams.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    role_name: Mapped[str] = mapped_column(String(20))


class OrgProject(Base):
    """A project owned by an organization (a project belongs to one org at most)."""

    __tablename__ = "org_projects"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Namespace(Base):
    """A PEP 752 grant: the normalized prefix ``name`` reserved for an organization."""

    __tablename__ = "namespaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrgTransfer(Base):
    """A project moving into (``in``) or out of (``out``) an organization, waiting until both
    sides confirmed: an owner of the org, and an Owner in person of the project."""

    __tablename__ = "org_transfers"
    __table_args__ = (CheckConstraint("direction IN ('in', 'out')", name="direction"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # One pending move per project.
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), unique=True
    )
    direction: Mapped[str] = mapped_column(String(10))
    org_confirmed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    project_confirmed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
