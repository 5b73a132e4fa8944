"""name reservations: a new project's name held while its first release is staged

Revision ID: 0015_name_reservations
Revises: 0014_staging
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0015_name_reservations"
down_revision = "0014_staging"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "name_reservations",
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_name_reservations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("normalized_name", name=op.f("pk_name_reservations")),
    )
    op.create_index(
        op.f("ix_name_reservations_user_id"), "name_reservations", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_name_reservations_user_id"), table_name="name_reservations")
    op.drop_table("name_reservations")
