"""downloads: daily counts, rolling window totals, ingested logs, security snapshots

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "download_counts",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("packagetype", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_download_counts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "packagetype", "day", name=op.f("pk_download_counts")
        ),
    )
    op.create_index(op.f("ix_download_counts_day"), "download_counts", ["day"], unique=False)
    op.create_table(
        "download_totals",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("window_total", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_download_totals_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_download_totals")),
    )
    op.create_index(
        op.f("ix_download_totals_window_total"), "download_totals", ["window_total"], unique=False
    )
    op.create_table(
        "download_window",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("start_day", sa.Date(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_download_window_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_download_window")),
    )
    op.create_table(
        "ingested_logs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=1024), nullable=False),
        sa.Column("log_format", sa.String(length=10), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=False),
        sa.Column("ingested_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_ingested_logs")),
    )
    op.create_table(
        "security_snapshots",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("users_2fa", sa.Integer(), nullable=False),
        sa.Column("users_totp", sa.Integer(), nullable=False),
        sa.Column("users_webauthn", sa.Integer(), nullable=False),
        sa.Column("critical_projects", sa.Integer(), nullable=False),
        sa.Column("critical_maintainers", sa.Integer(), nullable=False),
        sa.Column("critical_maintainers_2fa", sa.Integer(), nullable=False),
        sa.Column("projects_requiring_2fa", sa.Integer(), nullable=False),
        sa.Column("uploads_trusted_publishing_pct", sa.Float(), nullable=False),
        sa.Column("uploads_attested_pct", sa.Float(), nullable=False),
        sa.Column("taken_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_security_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("security_snapshots")
    op.drop_table("ingested_logs")
    op.drop_table("download_window")
    op.drop_index(op.f("ix_download_totals_window_total"), table_name="download_totals")
    op.drop_table("download_totals")
    op.drop_index(op.f("ix_download_counts_day"), table_name="download_counts")
    op.drop_table("download_counts")
