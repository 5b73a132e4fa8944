"""advisories: OSV advisories merged by alias, their records, ids, packages and owners' notices

Revision ID: 0010_advisories
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0010_advisories"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "advisories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("osv_id", sa.String(length=255), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("published", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("modified", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("withdrawn", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisories")),
        sa.UniqueConstraint("osv_id", name=op.f("uq_advisories_osv_id")),
    )
    op.create_table(
        "advisory_records",
        sa.Column("osv_id", sa.String(length=255), nullable=False),
        sa.Column("advisory_id", sa.Integer(), nullable=False),
        sa.Column("modified", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("withdrawn", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("imported_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["advisories.id"],
            name=op.f("fk_advisory_records_advisory_id_advisories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("osv_id", name=op.f("pk_advisory_records")),
    )
    op.create_index(
        op.f("ix_advisory_records_advisory_id"), "advisory_records", ["advisory_id"], unique=False
    )
    op.create_table(
        "advisory_ids",
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("advisory_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["advisories.id"],
            name=op.f("fk_advisory_ids_advisory_id_advisories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_advisory_ids")),
    )
    op.create_index(
        op.f("ix_advisory_ids_advisory_id"), "advisory_ids", ["advisory_id"], unique=False
    )
    op.create_table(
        "advisory_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advisory_id", sa.Integer(), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("ranges", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["advisories.id"],
            name=op.f("fk_advisory_packages_advisory_id_advisories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisory_packages")),
    )
    op.create_index(
        op.f("ix_advisory_packages_advisory_id"),
        "advisory_packages",
        ["advisory_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_advisory_packages_normalized_name"),
        "advisory_packages",
        ["normalized_name"],
        unique=False,
    )
    op.create_table(
        "advisory_notices",
        sa.Column("advisory_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["advisories.id"],
            name=op.f("fk_advisory_notices_advisory_id_advisories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_advisory_notices_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("advisory_id", "project_id", name=op.f("pk_advisory_notices")),
    )
    op.create_index(
        op.f("ix_advisory_notices_project_id"), "advisory_notices", ["project_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("advisory_notices")
    op.drop_table("advisory_packages")
    op.drop_table("advisory_ids")
    op.drop_table("advisory_records")
    op.drop_table("advisories")
