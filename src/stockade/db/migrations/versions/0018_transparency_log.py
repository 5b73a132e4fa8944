"""transparency log: entries, subtree hashes, files' logged state, the log's size

Revision ID: 0018_transparency_log
Revises: 0017_provenance_holds
Create Date: 2026-12-03
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0018_transparency_log"
down_revision = "0017_provenance_holds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = op.create_table(
        "tlog_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tlog_state")),
        sa.CheckConstraint("id = 1", name=op.f("ck_tlog_state_one_row")),
    )
    op.create_table(
        "tlog_entries",
        sa.Column(
            "idx",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("filename", sa.String(512), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_tlog_entries")),
    )
    op.create_index(op.f("ix_tlog_entries_filename"), "tlog_entries", ["filename"])
    op.create_table(
        "tlog_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_tlog_nodes")),
    )
    op.create_table(
        "tlog_files",
        sa.Column("filename", sa.String(512), nullable=False),
        sa.Column("flags", sa.String(8), nullable=False),
        sa.Column("last_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("filename", name=op.f("pk_tlog_files")),
    )
    # The log is on from the start; files already in the index join it by `stockade log
    # bootstrap`.
    op.bulk_insert(
        state,
        [
            {
                "id": 1,
                "enabled": True,
                "size": 0,
                "frontier": b"",
                "updated_at": dt.datetime.now(dt.UTC),
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("tlog_files")
    op.drop_table("tlog_nodes")
    op.drop_index(op.f("ix_tlog_entries_filename"), table_name="tlog_entries")
    op.drop_table("tlog_entries")
    op.drop_table("tlog_state")
