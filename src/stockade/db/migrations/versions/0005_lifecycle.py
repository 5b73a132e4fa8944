"""release lifecycle: deletion tombstones, archive, reserved names

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TOMBSTONED = ("projects", "releases", "files")


def upgrade() -> None:
    op.create_table(
        "deletions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("project_name", sa.String(length=255), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=True),
        sa.Column("deleted_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('project', 'release', 'file')", name=op.f("ck_deletions_kind")
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"],
            ["users.id"],
            name=op.f("fk_deletions_deleted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletions")),
    )
    for table in _TOMBSTONED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("deletion_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_deletion_id_deletions"),
                "deletions",
                ["deletion_id"],
                ["id"],
            )


def downgrade() -> None:
    for table in reversed(_TOMBSTONED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f(f"fk_{table}_deletion_id_deletions"), type_="foreignkey"
            )
            batch_op.drop_column("deletion_id")
    op.drop_table("deletions")
