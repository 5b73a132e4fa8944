"""staged releases: PEP 694 publishing sessions

Revision ID: 0014_staging
Revises: 0013_view_known_vulns
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0014_staging"
down_revision = "0013_view_known_vulns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "publishing_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("canonical_version", sa.String(length=255), nullable=False),
        sa.Column("live_key", sa.String(length=600), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("finished_at", stockade.db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_publishing_sessions_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishing_sessions")),
        sa.UniqueConstraint("live_key", name=op.f("uq_publishing_sessions_live_key")),
        sa.UniqueConstraint("token", name=op.f("uq_publishing_sessions_token")),
    )
    op.create_index(
        op.f("ix_publishing_sessions_normalized_name"),
        "publishing_sessions",
        ["normalized_name"],
        unique=False,
    )
    op.create_table(
        "staged_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("live_key", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("hashes", sa.JSON(), nullable=False),
        sa.Column("sha256_digest", sa.String(length=64), nullable=True),
        sa.Column("blake2_256_digest", sa.String(length=64), nullable=True),
        sa.Column("md5_digest", sa.String(length=32), nullable=True),
        sa.Column("metadata_sha256", sa.String(length=64), nullable=True),
        sa.Column("dist", sa.JSON(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["publishing_sessions.id"],
            name=op.f("fk_staged_files_session_id_publishing_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staged_files")),
        sa.UniqueConstraint("live_key", name=op.f("uq_staged_files_live_key")),
        sa.UniqueConstraint("token", name=op.f("uq_staged_files_token")),
    )
    for column in ("session_id", "sha256_digest", "metadata_sha256"):
        op.create_index(op.f(f"ix_staged_files_{column}"), "staged_files", [column], unique=False)


def downgrade() -> None:
    for column in ("session_id", "sha256_digest", "metadata_sha256"):
        op.drop_index(op.f(f"ix_staged_files_{column}"), table_name="staged_files")
    op.drop_table("staged_files")
    op.drop_index(op.f("ix_publishing_sessions_normalized_name"), table_name="publishing_sessions")
    op.drop_table("publishing_sessions")
