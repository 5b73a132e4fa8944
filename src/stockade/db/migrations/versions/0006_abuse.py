"""abuse: malware reports, trusted reporters, prohibited names, projects' look-alike form

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base
from stockade.abuse.names import ultranormalize

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "abuse_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", stockade.db.base.UTCDateTime(), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_abuse_reports_status")),
        sa.CheckConstraint("via IN ('web', 'api')", name=op.f("ck_abuse_reports_via")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_abuse_reports_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.id"],
            name=op.f("fk_abuse_reports_reporter_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["users.id"],
            name=op.f("fk_abuse_reports_resolved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abuse_reports")),
    )
    with op.batch_alter_table("abuse_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_abuse_reports_project_id"), ["project_id"])
        batch_op.create_index(batch_op.f("ix_abuse_reports_reporter_id"), ["reporter_id"])
        batch_op.create_index(batch_op.f("ix_abuse_reports_status"), ["status"])

    op.create_table(
        "trusted_reporters",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("granted_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_trusted_reporters_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["users.id"],
            name=op.f("fk_trusted_reporters_granted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_trusted_reporters")),
    )

    op.create_table(
        "prohibited_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("ultranormalized_name", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_prohibited_names_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prohibited_names")),
        sa.UniqueConstraint("normalized_name", name=op.f("uq_prohibited_names_normalized_name")),
    )
    with op.batch_alter_table("prohibited_names", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prohibited_names_ultranormalized_name"), ["ultranormalized_name"]
        )

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "ultranormalized_name", sa.String(length=255), server_default="", nullable=False
            )
        )
        batch_op.create_index(
            batch_op.f("ix_projects_ultranormalized_name"), ["ultranormalized_name"]
        )
    # The look-alike form is computed in Python (Unicode folding), so existing rows are filled
    # here rather than by SQL.
    projects = sa.table(
        "projects",
        sa.column("id", sa.Integer()),
        sa.column("normalized_name", sa.String()),
        sa.column("ultranormalized_name", sa.String()),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(projects.c.id, projects.c.normalized_name)).all()
    if rows:
        conn.execute(
            projects.update()
            .where(projects.c.id == sa.bindparam("pid"))
            .values(ultranormalized_name=sa.bindparam("ultra")),
            [{"pid": pid, "ultra": ultranormalize(name)} for pid, name in rows],
        )


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_ultranormalized_name"))
        batch_op.drop_column("ultranormalized_name")
    with op.batch_alter_table("prohibited_names", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prohibited_names_ultranormalized_name"))
    op.drop_table("prohibited_names")
    op.drop_table("trusted_reporters")
    with op.batch_alter_table("abuse_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_abuse_reports_status"))
        batch_op.drop_index(batch_op.f("ix_abuse_reports_reporter_id"))
        batch_op.drop_index(batch_op.f("ix_abuse_reports_project_id"))
    op.drop_table("abuse_reports")
