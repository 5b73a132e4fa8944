"""organizations: members, teams, the projects they own and their moves, PEP 752 namespace
grants, and the org an event concerns

Revision ID: 0020_organizations
Revises: 0019_tuf
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0020_organizations"
down_revision = "0019_tuf"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("normalized_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("require_two_factor", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'active')", name=op.f("ck_organizations_status")),
        _fk("organizations", "created_by_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("normalized_name", name=op.f("uq_organizations_normalized_name")),
    )
    op.create_index(
        op.f("ix_organizations_created_by_id"), "organizations", ["created_by_id"], unique=False
    )
    op.create_table(
        "org_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("public", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'manager', 'member')", name=op.f("ck_org_members_role")
        ),
        _fk("org_members", "org_id", "organizations", "CASCADE"),
        _fk("org_members", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_members")),
        sa.UniqueConstraint("org_id", "user_id", name=op.f("uq_org_members_org_id_user_id")),
    )
    op.create_index(op.f("ix_org_members_org_id"), "org_members", ["org_id"], unique=False)
    op.create_index(op.f("ix_org_members_user_id"), "org_members", ["user_id"], unique=False)
    op.create_table(
        "org_teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("normalized_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        _fk("org_teams", "org_id", "organizations", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_teams")),
        sa.UniqueConstraint(
            "org_id", "normalized_name", name=op.f("uq_org_teams_org_id_normalized_name")
        ),
    )
    op.create_index(op.f("ix_org_teams_org_id"), "org_teams", ["org_id"], unique=False)
    op.create_table(
        "org_team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _fk("org_team_members", "team_id", "org_teams", "CASCADE"),
        _fk("org_team_members", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_org_team_members")),
    )
    op.create_index(
        op.f("ix_org_team_members_user_id"), "org_team_members", ["user_id"], unique=False
    )
    op.create_table(
        "org_team_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("role_name", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "role_name IN ('Owner', 'Maintainer')", name=op.f("ck_org_team_roles_role_name")
        ),
        _fk("org_team_roles", "team_id", "org_teams", "CASCADE"),
        _fk("org_team_roles", "project_id", "projects", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_team_roles")),
        sa.UniqueConstraint(
            "team_id", "project_id", name=op.f("uq_org_team_roles_team_id_project_id")
        ),
    )
    op.create_index(op.f("ix_org_team_roles_team_id"), "org_team_roles", ["team_id"], unique=False)
    op.create_index(
        op.f("ix_org_team_roles_project_id"), "org_team_roles", ["project_id"], unique=False
    )
    op.create_table(
        "org_projects",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("added_at", stockade.db.base.UTCDateTime(), nullable=False),
        _fk("org_projects", "project_id", "projects", "CASCADE"),
        _fk("org_projects", "org_id", "organizations", "CASCADE"),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_org_projects")),
    )
    op.create_index(op.f("ix_org_projects_org_id"), "org_projects", ["org_id"], unique=False)
    op.create_table(
        "namespaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        _fk("namespaces", "org_id", "organizations", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_namespaces")),
        sa.UniqueConstraint("name", name=op.f("uq_namespaces_name")),
    )
    op.create_index(op.f("ix_namespaces_org_id"), "namespaces", ["org_id"], unique=False)
    op.create_table(
        "org_transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("org_confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("project_confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", stockade.db.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_org_transfers_direction")),
        _fk("org_transfers", "org_id", "organizations", "CASCADE"),
        _fk("org_transfers", "project_id", "projects", "CASCADE"),
        _fk("org_transfers", "org_confirmed_by_id", "users", "SET NULL"),
        _fk("org_transfers", "project_confirmed_by_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_transfers")),
        sa.UniqueConstraint("project_id", name=op.f("uq_org_transfers_project_id")),
    )
    op.create_index(op.f("ix_org_transfers_org_id"), "org_transfers", ["org_id"], unique=False)
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("org_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_events_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index(batch.f("ix_events_org_id"))
        batch.drop_column("org_id")
    op.drop_index(op.f("ix_org_transfers_org_id"), table_name="org_transfers")
    op.drop_table("org_transfers")
    op.drop_index(op.f("ix_namespaces_org_id"), table_name="namespaces")
    op.drop_table("namespaces")
    op.drop_index(op.f("ix_org_projects_org_id"), table_name="org_projects")
    op.drop_table("org_projects")
    op.drop_index(op.f("ix_org_team_roles_project_id"), table_name="org_team_roles")
    op.drop_index(op.f("ix_org_team_roles_team_id"), table_name="org_team_roles")
    op.drop_table("org_team_roles")
    op.drop_index(op.f("ix_org_team_members_user_id"), table_name="org_team_members")
    op.drop_table("org_team_members")
    op.drop_index(op.f("ix_org_teams_org_id"), table_name="org_teams")
    op.drop_table("org_teams")
    op.drop_index(op.f("ix_org_members_user_id"), table_name="org_members")
    op.drop_index(op.f("ix_org_members_org_id"), table_name="org_members")
    op.drop_table("org_members")
    op.drop_index(op.f("ix_organizations_created_by_id"), table_name="organizations")
    op.drop_table("organizations")
