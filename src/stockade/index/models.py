"""Index models: projects, roles, releases, files, the filename registry and the journal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stockade.db.base import Base, UTCDateTime, utcnow
from stockade.index.names import ultranormalize

__all__ = [
    "File",
    "FilenameRegistry",
    "JournalEntry",
    "NameReservation",
    "Project",
    "Release",
    "Role",
    "RoleInvitation",
    "SimplePage",
]

ROLE_OWNER = "Owner"
ROLE_MAINTAINER = "Maintainer"


def _ultranormalized(context: Any) -> str:
    # Every way of creating a project fills the column, whoever forgets to.
    return ultranormalize(context.get_current_parameters()["normalized_name"])


class Project(Base):
    """A project: a normalized name and everything published under it."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    normalized_name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Id of the newest journal entry about this project (X-PyPI-Last-Serial).
    last_serial: Mapped[int] = mapped_column(BigInteger, default=0)
    # PEP 792 status marker: active, archived, quarantined, deprecated.
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    total_size: Mapped[int] = mapped_column(BigInteger, default=0)
    # Critical projects (top downloads, or pinned by an admin) stay critical forever.
    critical: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    critical_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    critical_pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Owners' opt-in: every maintainer needs 2FA to upload, manage or be invited.
    require_2fa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The owners' choice for uploads that break the provenance pattern (refuse, hold, warn);
    # None: the index's setting. Releases before ``provenance_pattern_since`` set no pattern
    # (an owner moved the project's CI on purpose).
    provenance_regression: Mapped[str | None] = mapped_column(String(16))
    provenance_pattern_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # What the name looks like (stockade.index.names.ultranormalize): new names must not match.
    ultranormalized_name: Mapped[str] = mapped_column(
        String(255), index=True, default=_ultranormalized, server_default=""
    )
    # Set while the project is deleted (a tombstone; see stockade.lifecycle.models).
    deletion_id: Mapped[int | None] = mapped_column(ForeignKey("deletions.id"))

    releases: Mapped[list[Release]] = relationship(back_populates="project")


class NameReservation(Base):
    """A new project's name, held for the user staging its first release (PEP 694) until
    ``expires_at``: nobody else may create the project meanwhile. The primary key keeps one
    holder per name."""

    __tablename__ = "name_reservations"

    normalized_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Role(Base):
    """A user's role on a project."""

    __tablename__ = "roles"
    __table_args__ = (
        UniqueConstraint("user_id", "project_id"),
        CheckConstraint("role_name IN ('Owner', 'Maintainer')", name="role_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    role_name: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoleInvitation(Base):
    """An owner's invitation of a user to a role on a project; the invitee accepts or declines."""

    __tablename__ = "role_invitations"
    __table_args__ = (
        CheckConstraint("role_name IN ('Owner', 'Maintainer')", name="role_name"),
        CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'revoked', 'expired')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    role_name: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Release(Base):
    """One version of a project."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("project_id", "canonical_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(255))
    canonical_version: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    yanked: Mapped[bool] = mapped_column(Boolean, default=False)
    yanked_reason: Mapped[str | None] = mapped_column(Text)
    requires_python: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    # Core metadata of the first file uploaded to this release (legacy JSON API "info").
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Set while the release is deleted (a tombstone; see stockade.lifecycle.models).
    deletion_id: Mapped[int | None] = mapped_column(ForeignKey("deletions.id"))

    project: Mapped[Project] = relationship(back_populates="releases")
    files: Mapped[list[File]] = relationship(back_populates="release")


class File(Base):
    """One distribution file. Its bytes live in blob storage under their sha256."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(512), unique=True)
    packagetype: Mapped[str] = mapped_column(String(20))
    python_version: Mapped[str] = mapped_column(String(100))
    requires_python: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    # The same bytes are never two files (PyPI refuses them as "File already exists").
    sha256_digest: Mapped[str] = mapped_column(String(64), unique=True)
    blake2_256_digest: Mapped[str] = mapped_column(String(64))
    md5_digest: Mapped[str] = mapped_column(String(32))
    # sha256 of the PEP 658 metadata sidecar; None when the file has none (sdists).
    metadata_sha256: Mapped[str | None] = mapped_column(String(64))
    metadata_version: Mapped[str | None] = mapped_column(String(10))
    upload_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The trusted publisher (stockade.oidc) whose upload token sent the file, if any.
    publisher_id: Mapped[int | None] = mapped_column(
        ForeignKey("oidc_publishers.id", ondelete="SET NULL")
    )
    comment_text: Mapped[str | None] = mapped_column(Text)
    # Set while the file is deleted (a tombstone; see stockade.lifecycle.models).
    deletion_id: Mapped[int | None] = mapped_column(ForeignKey("deletions.id"))

    release: Mapped[Release] = relationship(back_populates="files")


class FilenameRegistry(Base):
    """Every filename ever accepted. Append-only: a filename can never be used twice."""

    __tablename__ = "filename_registry"

    filename: Mapped[str] = mapped_column(String(512), primary_key=True)
    sha256_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class JournalEntry(Base):
    """The change feed: one row per change to a project. Its id is the serial."""

    __tablename__ = "journal"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SimplePage(Base):
    """A project's simple-API pages, rendered when the project changes and served as bytes."""

    __tablename__ = "simple_pages"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    normalized_name: Mapped[str] = mapped_column(String(255), unique=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    html: Mapped[bytes] = mapped_column(LargeBinary)
    json: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
