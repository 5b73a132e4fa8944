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


def downgrade() -> None:
    op.drop_index(op.f("ix_publishing_sessions_normalized_name"), table_name="publishing_sessions")
    op.drop_table("publishing_sessions")
