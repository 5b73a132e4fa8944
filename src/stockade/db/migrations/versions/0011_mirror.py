"""mirror: upstreams, cached projects and files, origin rules, cooldown exemptions

Revision ID: 0011_mirror
Revises: 0010_advisories
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0011_mirror"
down_revision = "0010_advisories"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mirror_upstreams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("files_url", sa.Text(), nullable=True),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("cooldown_days", sa.Float(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("from_settings", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("list_etag", sa.Text(), nullable=True),
        sa.Column("list_serial", sa.BigInteger(), nullable=True),
        sa.Column("list_synced_at", stockade.db.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_upstreams")),
        sa.UniqueConstraint("name", name=op.f("uq_mirror_upstreams_name")),
    )
    op.create_table(
        "mirror_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("upstream_serial", sa.BigInteger(), nullable=True),
        sa.Column("upstream_status", sa.String(length=20), nullable=True),
        sa.Column("upstream_status_reason", sa.Text(), nullable=True),
        sa.Column("fetched_at", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("checked_at", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_until", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('ok', 'missing', 'error')", name=op.f("ck_mirror_projects_status")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_mirror_projects_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["mirror_upstreams.id"],
            name=op.f("fk_mirror_projects_upstream_id_mirror_upstreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_projects")),
        sa.UniqueConstraint(
            "upstream_id",
            "normalized_name",
            name=op.f("uq_mirror_projects_upstream_id_normalized_name"),
        ),
    )
    op.create_index(
        op.f("ix_mirror_projects_normalized_name"),
        "mirror_projects",
        ["normalized_name"],
        unique=False,
    )
    op.create_index(
        op.f("ix_mirror_projects_project_id"), "mirror_projects", ["project_id"], unique=False
    )
    op.create_index(
        op.f("ix_mirror_projects_upstream_id"), "mirror_projects", ["upstream_id"], unique=False
    )
    op.create_table(
        "mirror_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("mirror_project_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=512), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("upload_time", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("requires_python", sa.Text(), nullable=True),
        sa.Column("yanked", sa.Boolean(), nullable=False),
        sa.Column("yanked_reason", sa.Text(), nullable=True),
        sa.Column("core_metadata_sha256", sa.String(length=64), nullable=True),
        sa.Column("core_metadata", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("provenance_url", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("cached", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("metadata_cached", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("first_seen_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "state IN ('held', 'published', 'removed')", name=op.f("ck_mirror_files_state")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_mirror_files_file_id_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mirror_project_id"],
            ["mirror_projects.id"],
            name=op.f("fk_mirror_files_mirror_project_id_mirror_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["mirror_upstreams.id"],
            name=op.f("fk_mirror_files_upstream_id_mirror_upstreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_files")),
        sa.UniqueConstraint(
            "upstream_id", "filename", name=op.f("uq_mirror_files_upstream_id_filename")
        ),
    )
    op.create_index(op.f("ix_mirror_files_file_id"), "mirror_files", ["file_id"], unique=False)
    op.create_index(
        op.f("ix_mirror_files_mirror_project_id"),
        "mirror_files",
        ["mirror_project_id"],
        unique=False,
    )
    op.create_index(op.f("ix_mirror_files_sha256"), "mirror_files", ["sha256"], unique=False)
    op.create_index(
        op.f("ix_mirror_files_upstream_id"), "mirror_files", ["upstream_id"], unique=False
    )
    op.create_table(
        "mirror_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upstream_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["mirror_upstreams.id"],
            name=op.f("fk_mirror_names_upstream_id_mirror_upstreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_names")),
        sa.UniqueConstraint(
            "upstream_id",
            "normalized_name",
            name=op.f("uq_mirror_names_upstream_id_normalized_name"),
        ),
    )
    op.create_index(
        op.f("ix_mirror_names_normalized_name"), "mirror_names", ["normalized_name"], unique=False
    )
    op.create_index(
        op.f("ix_mirror_names_upstream_id"), "mirror_names", ["upstream_id"], unique=False
    )
    op.create_table(
        "mirror_origins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("upstream_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "mode IN ('local', 'upstream', 'both')", name=op.f("ck_mirror_origins_mode")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_mirror_origins_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["upstream_id"],
            ["mirror_upstreams.id"],
            name=op.f("fk_mirror_origins_upstream_id_mirror_upstreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_origins")),
        sa.UniqueConstraint("normalized_name", name=op.f("uq_mirror_origins_normalized_name")),
    )
    op.create_table(
        "mirror_cooldown_exemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("expires_at", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_mirror_cooldown_exemptions_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mirror_cooldown_exemptions")),
    )
    op.create_index(
        op.f("ix_mirror_cooldown_exemptions_normalized_name"),
        "mirror_cooldown_exemptions",
        ["normalized_name"],
        unique=False,
    )

    op.create_table(
        "policy_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("min_age_days", sa.Float(), nullable=True),
        sa.Column("attested_only", sa.Boolean(), nullable=False),
        sa.Column("trusted_publishing_only", sa.Boolean(), nullable=False),
        sa.Column("min_downloads", sa.BigInteger(), nullable=True),
        sa.Column("maintainers_2fa", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("allow", sa.JSON(), nullable=False),
        sa.Column("deny", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_policy_views_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_views")),
        sa.UniqueConstraint("name", name=op.f("uq_policy_views_name")),
    )


def downgrade() -> None:
    op.drop_table("policy_views")
    op.drop_index(
        op.f("ix_mirror_cooldown_exemptions_normalized_name"),
        table_name="mirror_cooldown_exemptions",
    )
    op.drop_table("mirror_cooldown_exemptions")
    op.drop_table("mirror_origins")
    op.drop_index(op.f("ix_mirror_names_upstream_id"), table_name="mirror_names")
    op.drop_index(op.f("ix_mirror_names_normalized_name"), table_name="mirror_names")
    op.drop_table("mirror_names")
    op.drop_index(op.f("ix_mirror_files_upstream_id"), table_name="mirror_files")
    op.drop_index(op.f("ix_mirror_files_sha256"), table_name="mirror_files")
    op.drop_index(op.f("ix_mirror_files_mirror_project_id"), table_name="mirror_files")
    op.drop_index(op.f("ix_mirror_files_file_id"), table_name="mirror_files")
    op.drop_table("mirror_files")
    op.drop_index(op.f("ix_mirror_projects_upstream_id"), table_name="mirror_projects")
    op.drop_index(op.f("ix_mirror_projects_project_id"), table_name="mirror_projects")
    op.drop_index(op.f("ix_mirror_projects_normalized_name"), table_name="mirror_projects")
    op.drop_table("mirror_projects")
    op.drop_table("mirror_upstreams")
