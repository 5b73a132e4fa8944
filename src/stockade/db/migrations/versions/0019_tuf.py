"""tuf: PEP 458 metadata, targets and the repository's state

Revision ID: 0019_tuf
Revises: 0018_transparency_log
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stockade.db.base import UTCDateTime

revision = "0019_tuf"
down_revision = "0018_transparency_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tuf_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("journal_id", sa.BigInteger(), nullable=False),
        sa.Column("bit_length", sa.Integer(), nullable=False),
        sa.Column("resign_all", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "tuf_metadata",
        sa.Column("role", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger(), primary_key=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("expires", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("superseded_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_tuf_metadata_superseded_at", "tuf_metadata", ["superseded_at"])
    op.create_table(
        "tuf_targets",
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_tuf_targets_project", "tuf_targets", ["project"])
    op.create_index("ix_tuf_targets_bin", "tuf_targets", ["bin"])


def downgrade() -> None:
    op.drop_table("tuf_targets")
    op.drop_table("tuf_metadata")
    op.drop_table("tuf_state")
