"""Mirror models: upstreams, the projects and files cached from them, origin rules, exemptions.

The index holds only what may be served: an upstream file becomes an ordinary ``files`` row
(``stockade.index.models.File``) once it passes the origin rules and the cooldown. Everything
upstream-specific stays here:

- ``MirrorUpstream``: an index we read from (its simple root, credentials, TTL, cooldown).
- ``MirrorProject``: one project page fetched from one upstream (validators, freshness, lease).
- ``MirrorFile``: one file that upstream page lists. ``state`` says where it is: ``held``
  (younger than the cooldown, no index row yet), ``published`` (an index row serves it),
  ``removed`` (gone upstream; its index row is soft-deleted, its blob kept).
- ``MirrorOrigin``: an admin's rule for one name (dependency confusion): ``local`` (never
  upstream files; on a name that does not exist yet it reserves it), ``upstream`` (files of one
  upstream only; local uploads refused), ``both`` (local files first, then upstream's).
- ``MirrorCooldownExemption``: a project (or one version of it) let through the cooldown, with
  a reason, an expiry and who decided.

The cooldown defaults to 0 days (off) so that a plain ``stockade mirror add`` behaves like the
upstream; an operator sets it per upstream (``--cooldown-days``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = [
    "MirrorCooldownExemption",
    "MirrorFile",
    "MirrorName",
    "MirrorOrigin",
    "MirrorProject",
    "MirrorUpstream",
    "PolicyView",
]

DEFAULT_TTL_SECONDS = 600
DEFAULT_COOLDOWN_DAYS = 0.0

PROJECT_OK = "ok"
PROJECT_MISSING = "missing"
PROJECT_ERROR = "error"

FILE_HELD = "held"
FILE_PUBLISHED = "published"
FILE_REMOVED = "removed"

ORIGIN_LOCAL = "local"
ORIGIN_UPSTREAM = "upstream"
ORIGIN_BOTH = "both"


class MirrorUpstream(Base):
    """An index this one reads from."""

    __tablename__ = "mirror_upstreams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The simple root, ending in "/" (e.g. https://pypi.org/simple/).
    url: Mapped[str] = mapped_column(Text)
    # Where relative file URLs resolve when the files live elsewhere (None: the page's URL).
    files_url: Mapped[str | None] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(255))
    password: Mapped[str | None] = mapped_column(Text)
    ttl_seconds: Mapped[int] = mapped_column(Integer, default=DEFAULT_TTL_SECONDS)
    cooldown_days: Mapped[float] = mapped_column(Float, default=DEFAULT_COOLDOWN_DAYS)
    # Lower first, when several upstreams know a name.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Set when the upstream comes from settings (stockade.toml / STOCKADE_UPSTREAM_URL).
    from_settings: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The imported project list (``stockade mirror sync --project-list``): its validators.
    list_etag: Mapped[str | None] = mapped_column(Text)
    list_serial: Mapped[int | None] = mapped_column(BigInteger)
    list_synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MirrorProject(Base):
    """One project page of one upstream, as last fetched."""

    __tablename__ = "mirror_projects"
    __table_args__ = (
        UniqueConstraint("upstream_id", "normalized_name"),
        CheckConstraint("status IN ('ok', 'missing', 'error')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    upstream_id: Mapped[int] = mapped_column(
        ForeignKey("mirror_upstreams.id", ondelete="CASCADE"), index=True
    )
    normalized_name: Mapped[str] = mapped_column(String(255), index=True)
    # The index project serving this page's files (None until one file is published).
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True
    )
    etag: Mapped[str | None] = mapped_column(Text)
    upstream_serial: Mapped[int | None] = mapped_column(BigInteger)
    # PEP 792 status upstream, and its reason.
    upstream_status: Mapped[str | None] = mapped_column(String(20))
    upstream_status_reason: Mapped[str | None] = mapped_column(Text)
    # Last successful fetch (content or 304), last attempt of any outcome.
    fetched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default=PROJECT_OK)
    last_error: Mapped[str | None] = mapped_column(Text)
    # One refresher across workers: a worker takes the lease by moving it forward.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MirrorFile(Base):
    """One file an upstream page lists."""

    __tablename__ = "mirror_files"
    __table_args__ = (
        UniqueConstraint("upstream_id", "filename"),
        CheckConstraint("state IN ('held', 'published', 'removed')", name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    upstream_id: Mapped[int] = mapped_column(
        ForeignKey("mirror_upstreams.id", ondelete="CASCADE"), index=True
    )
    mirror_project_id: Mapped[int] = mapped_column(
        ForeignKey("mirror_projects.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(512))
    version: Mapped[str] = mapped_column(String(255))
    # Absolute, resolved against the page's URL (or the upstream's files_url).
    url: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int | None] = mapped_column(BigInteger)
    upload_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    requires_python: Mapped[str | None] = mapped_column(Text)
    yanked: Mapped[bool] = mapped_column(Boolean, default=False)
    yanked_reason: Mapped[str | None] = mapped_column(Text)
    core_metadata_sha256: Mapped[str | None] = mapped_column(String(64))
    # True when upstream says a metadata file exists but gives no hash for it.
    core_metadata: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    provenance_url: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default=FILE_HELD)
    file_id: Mapped[int | None] = mapped_column(
        ForeignKey("files.id", ondelete="SET NULL"), index=True
    )
    # The blob is in our storage; the PEP 658 metadata is in our storage.
    cached: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    metadata_cached: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MirrorName(Base):
    """One name of an upstream's imported project list, listed in ``/simple/`` before any of
    its pages is fetched."""

    __tablename__ = "mirror_names"
    __table_args__ = (UniqueConstraint("upstream_id", "normalized_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    upstream_id: Mapped[int] = mapped_column(
        ForeignKey("mirror_upstreams.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    normalized_name: Mapped[str] = mapped_column(String(255), index=True)


class MirrorOrigin(Base):
    """An admin's origin rule for one name."""

    __tablename__ = "mirror_origins"
    __table_args__ = (CheckConstraint("mode IN ('local', 'upstream', 'both')", name="mode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    normalized_name: Mapped[str] = mapped_column(String(255), unique=True)
    mode: Mapped[str] = mapped_column(String(10))
    # For "upstream" (required) and "both" (None: any upstream).
    upstream_id: Mapped[int | None] = mapped_column(
        ForeignKey("mirror_upstreams.id", ondelete="CASCADE")
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MirrorCooldownExemption(Base):
    """A project (or one version) let through the cooldown."""

    __tablename__ = "mirror_cooldown_exemptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    normalized_name: Mapped[str] = mapped_column(String(255), index=True)
    # None: every version of the project.
    version: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolicyView(Base):
    """A named policy view: ``/views/<name>/simple/`` serves the index filtered by it, per file
    and per version, so installers resolve to the newest version that passes."""

    __tablename__ = "policy_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Files younger than this many days are left out (None: no minimum age).
    min_age_days: Mapped[float | None] = mapped_column(Float)
    attested_only: Mapped[bool] = mapped_column(Boolean, default=False)
    trusted_publishing_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # Projects with fewer downloads over the rolling window are left out (None: no minimum).
    min_downloads: Mapped[int | None] = mapped_column(BigInteger)
    # Local projects need every Owner and Maintainer to have a second factor.
    maintainers_2fa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Versions a live imported advisory affects are left out.
    no_known_vulns: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # PEP 508 requirements without markers: "name" or "name<2" (allow: only these; deny: never).
    allow: Mapped[list[str]] = mapped_column(JSON, default=list)
    deny: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
