"""trusted publishing: publishers, pending publishers, used JWT ids

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_PROVIDER_CHECK = "provider IN ('github', 'gitlab', 'google', 'oidc')"


def _publisher_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("provider", sa.String(length=10), nullable=False),
        sa.Column("identity", sa.String(length=1024), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("repository", sa.String(length=255), nullable=True),
        sa.Column("workflow", sa.String(length=512), nullable=True),
        sa.Column("environment", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.String(length=512), nullable=True),
        sa.Column("issuer_url", sa.String(length=512), nullable=True),
        sa.Column("audience", sa.String(length=255), nullable=True),
        sa.Column("claims", sa.JSON(), nullable=True),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "oidc_used_jwt_ids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_used_jwt_ids")),
        sa.UniqueConstraint("issuer", "jti", name=op.f("uq_oidc_used_jwt_ids_issuer_jti")),
    )
    op.create_index(op.f("ix_oidc_used_jwt_ids_expires_at"), "oidc_used_jwt_ids", ["expires_at"])
    op.create_table(
        "oidc_pending_publishers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_name", sa.String(length=255), nullable=False),
        sa.Column("normalized_name", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", stockade.db.base.UTCDateTime(), nullable=False),
        *_publisher_columns(),
        sa.CheckConstraint(_PROVIDER_CHECK, name=op.f("ck_oidc_pending_publishers_provider")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_oidc_pending_publishers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_pending_publishers")),
        sa.UniqueConstraint(
            "normalized_name",
            "identity",
            name=op.f("uq_oidc_pending_publishers_normalized_name_identity"),
        ),
    )
    for column in ("issuer_url", "normalized_name", "user_id"):
        op.create_index(
            op.f(f"ix_oidc_pending_publishers_{column}"), "oidc_pending_publishers", [column]
        )
    op.create_table(
        "oidc_publishers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        *_publisher_columns(),
        sa.CheckConstraint(_PROVIDER_CHECK, name=op.f("ck_oidc_publishers_provider")),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            name=op.f("fk_oidc_publishers_added_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_oidc_publishers_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_publishers")),
        sa.UniqueConstraint(
            "project_id", "identity", name=op.f("uq_oidc_publishers_project_id_identity")
        ),
    )
    for column in ("issuer_url", "project_id"):
        op.create_index(op.f(f"ix_oidc_publishers_{column}"), "oidc_publishers", [column])

    # A token belongs to a user or, for 15 minutes, to a trusted publisher.
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("publisher_id", sa.Integer(), nullable=True))
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_api_tokens_publisher_id"), ["publisher_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_api_tokens_publisher_id_oidc_publishers"),
            "oidc_publishers",
            ["publisher_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_check_constraint(
            "one_owner", sa.text("(user_id IS NULL) <> (publisher_id IS NULL)")
        )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("publisher_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_files_publisher_id_oidc_publishers"),
            "oidc_publishers",
            ["publisher_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_files_publisher_id_oidc_publishers"), type_="foreignkey"
        )
        batch_op.drop_column("publisher_id")
    op.execute("DELETE FROM api_tokens WHERE user_id IS NULL")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_api_tokens_one_owner"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_api_tokens_publisher_id_oidc_publishers"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_api_tokens_publisher_id"))
        batch_op.drop_column("publisher_id")
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("oidc_publishers")
    op.drop_table("oidc_pending_publishers")
    op.drop_table("oidc_used_jwt_ids")
