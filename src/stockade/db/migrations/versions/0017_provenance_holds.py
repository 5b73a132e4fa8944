"""provenance holds: held uploads, and each project's provenance regression choice

Revision ID: 0017_provenance_holds
Revises: 0016_staged_attestations
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0017_provenance_holds"
down_revision = "0016_staged_attestations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("canonical_version", sa.String(length=255), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("live_filename", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256_digest", sa.String(length=64), nullable=False),
        sa.Column("blake2_256_digest", sa.String(length=64), nullable=False),
        sa.Column("md5_digest", sa.String(length=32), nullable=False),
        sa.Column("metadata_sha256", sa.String(length=64), nullable=True),
        sa.Column("comment_text", sa.Text(), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("uploader_id", sa.Integer(), nullable=True),
        sa.Column("uploader_name", sa.String(length=255), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("publisher_id", sa.Integer(), nullable=True),
        sa.Column("held_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", stockade.db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_held_files_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"],
            ["users.id"],
            name=op.f("fk_held_files_uploader_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_held_files_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_files")),
        sa.UniqueConstraint("live_filename", name=op.f("uq_held_files_live_filename")),
    )
    op.create_index(op.f("ix_held_files_project_id"), "held_files", ["project_id"])
    op.create_index(op.f("ix_held_files_sha256_digest"), "held_files", ["sha256_digest"])
    op.create_index(op.f("ix_held_files_metadata_sha256"), "held_files", ["metadata_sha256"])
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("provenance_regression", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("provenance_pattern_since", stockade.db.base.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("security_snapshots") as batch:
        batch.add_column(sa.Column("held_files", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("held_files_confirmed", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("security_snapshots") as batch:
        batch.drop_column("held_files_confirmed")
        batch.drop_column("held_files")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("provenance_pattern_since")
        batch.drop_column("provenance_regression")
    op.drop_table("held_files")
