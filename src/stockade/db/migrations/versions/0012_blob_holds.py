"""blob holds: keys a writer is about to reference, so the orphan sweep leaves them alone

Revision ID: 0012_blob_holds
Revises: 0011_mirror
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0012_blob_holds"
down_revision = "0011_mirror"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_holds",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("since", stockade.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_blob_holds")),
    )


def downgrade() -> None:
    op.drop_table("blob_holds")
