"""project domains: domains a project's owners verify with a DNS TXT record

Revision ID: 0022_project_domains
Revises: 0021_webhooks
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0022_project_domains"
down_revision = "0021_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("verified_at", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("checked_at", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("last_result", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_domains_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_project_domains_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_domains")),
        sa.UniqueConstraint(
            "project_id", "domain", name=op.f("uq_project_domains_project_id_domain")
        ),
    )
    op.create_index(op.f("ix_project_domains_project_id"), "project_domains", ["project_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_project_domains_project_id"), table_name="project_domains")
    op.drop_table("project_domains")
