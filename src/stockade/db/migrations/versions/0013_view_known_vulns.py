"""policy views: the "no known vulnerability" rule

Revision ID: 0013_view_known_vulns
Revises: 0012_blob_holds
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_view_known_vulns"
down_revision = "0012_blob_holds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policy_views") as batch:
        batch.add_column(
            sa.Column("no_known_vulns", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("policy_views") as batch:
        batch.drop_column("no_known_vulns")
