"""Trusted publishers (GitHub, GitLab, Google, generic OIDC), pending publishers, used JWT ids.

One table per kind of row, one column set for every provider: the provider decides which
columns matter (see stockade.oidc.publishers). ``identity`` is the publisher's canonical
description (lower-cased where the provider compares case-insensitively); a unique constraint
on it keeps one project from registering the same publisher twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["PROVIDERS", "PendingPublisher", "Publisher", "UsedJwtId"]

PROVIDERS = ("github", "gitlab", "google", "oidc")
_PROVIDER_CHECK = "provider IN ('github', 'gitlab', 'google', 'oidc')"


class _PublisherFields:
    """What identifies a CI job, whichever provider issues its tokens."""

    provider: Mapped[str] = mapped_column(String(10))
    # Canonical form of the fields below; unique per project (or per pending name).
    identity: Mapped[str] = mapped_column(String(1024))
    # GitHub: owner (user or organization), its immutable id, repository name, workflow file.
    # GitLab: namespace (owner), project (repository), CI config path (workflow).
    owner: Mapped[str | None] = mapped_column(String(255))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    repository: Mapped[str | None] = mapped_column(String(255))
    workflow: Mapped[str | None] = mapped_column(String(512))
    environment: Mapped[str | None] = mapped_column(String(255))
    # Google: the service account's email and, optionally, the token's subject.
    email: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(512))
    # Generic OIDC (admins only): issuer URL, audience, exact-match claim rules.
    issuer_url: Mapped[str | None] = mapped_column(String(512), index=True)
    audience: Mapped[str | None] = mapped_column(String(255))
    claims: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Publisher(_PublisherFields, Base):
    """A trusted publisher of a project: CI jobs matching it may upload to the project."""

    __tablename__ = "oidc_publishers"
    __table_args__ = (
        UniqueConstraint("project_id", "identity"),
        CheckConstraint(_PROVIDER_CHECK, name="provider"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class PendingPublisher(_PublisherFields, Base):
    """A publisher registered for a project name that does not exist yet. The first token
    exchange creates the project, owned by ``user_id``, and turns this into a Publisher."""

    __tablename__ = "oidc_pending_publishers"
    __table_args__ = (
        UniqueConstraint("normalized_name", "identity"),
        CheckConstraint(_PROVIDER_CHECK, name="provider"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_name: Mapped[str] = mapped_column(String(255))
    normalized_name: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class UsedJwtId(Base):
    """A JWT id already exchanged: each OIDC token is good for one exchange. Rows are purged
    once the token they stand for has expired."""

    __tablename__ = "oidc_used_jwt_ids"
    __table_args__ = (UniqueConstraint("issuer", "jti"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    jti: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
