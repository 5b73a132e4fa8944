"""staged attestations: the verified PEP 740 provenance of a staged file

Revision ID: 0016_staged_attestations
Revises: 0015_name_reservations
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_staged_attestations"
down_revision = "0015_name_reservations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staged_files") as batch:
        batch.add_column(sa.Column("provenance", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staged_files") as batch:
        batch.drop_column("provenance")
