"""abuse: malware reports, trusted reporters, prohibited names, projects' look-alike form

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

import stockade.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# A frozen copy of stockade.index.names.ultranormalize as it was when this revision was written:
# a migration must compute the same values whatever the code becomes later.
# Letters of other scripts that render like Latin ones (lower case: folding happens after
# casefold). Unicode's confusables list is much longer; these are the ones seen in package
# names, plus every Cyrillic and Greek letter whose capital or small form is a Latin twin.
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "\N{CYRILLIC SMALL LETTER A}": "a",
        "\N{CYRILLIC SMALL LETTER VE}": "b",
        "\N{CYRILLIC SMALL LETTER IE}": "e",
        "\N{CYRILLIC SMALL LETTER IO}": "e",
        "\N{CYRILLIC SMALL LETTER SHHA}": "h",
        "\N{CYRILLIC SMALL LETTER EN}": "h",
        "\N{CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I}": "i",
        "\N{CYRILLIC SMALL LETTER YI}": "i",
        "\N{CYRILLIC SMALL LETTER JE}": "j",
        "\N{CYRILLIC SMALL LETTER KA}": "k",
        "\N{CYRILLIC SMALL LETTER EM}": "m",
        "\N{CYRILLIC SMALL LETTER O}": "o",
        "\N{CYRILLIC SMALL LETTER ER}": "p",
        "\N{CYRILLIC SMALL LETTER QA}": "q",
        "\N{CYRILLIC SMALL LETTER ES}": "c",
        "\N{CYRILLIC SMALL LETTER DZE}": "s",
        "\N{CYRILLIC SMALL LETTER TE}": "t",
        "\N{CYRILLIC SMALL LETTER U}": "y",
        "\N{CYRILLIC SMALL LETTER WE}": "w",
        "\N{CYRILLIC SMALL LETTER HA}": "x",
        "\N{CYRILLIC SMALL LETTER KOMI DE}": "d",
        "\N{LATIN SMALL LETTER SCRIPT G}": "g",
        # Greek
        "\N{GREEK SMALL LETTER ALPHA}": "a",
        "\N{GREEK SMALL LETTER BETA}": "b",
        "\N{GREEK SMALL LETTER EPSILON}": "e",
        "\N{GREEK SMALL LETTER ETA}": "n",
        "\N{GREEK SMALL LETTER IOTA}": "i",
        "\N{GREEK SMALL LETTER KAPPA}": "k",
        "\N{GREEK SMALL LETTER MU}": "u",
        "\N{GREEK SMALL LETTER NU}": "v",
        "\N{GREEK SMALL LETTER OMICRON}": "o",
        "\N{GREEK SMALL LETTER RHO}": "p",
        "\N{GREEK SMALL LETTER TAU}": "t",
        "\N{GREEK SMALL LETTER UPSILON}": "u",
        "\N{GREEK SMALL LETTER CHI}": "x",
        "\N{GREEK SMALL LETTER ZETA}": "z",
        # Latin letters without a dot or with a stroke
        "\N{LATIN SMALL LETTER DOTLESS I}": "i",
        "\N{LATIN SMALL LETTER DOTLESS J}": "j",
        "\N{LATIN SMALL LETTER L WITH STROKE}": "l",
    }
)
# PyPI's own folding of ASCII look-alikes, applied last (after lower-casing).
_ASCII_LOOKALIKES = str.maketrans({"l": "1", "i": "1", "o": "0"})
_SEPARATORS = str.maketrans("", "", "-_.")


def ultranormalize(name: str) -> str:
    """What a name looks like: NFKC, casefolded, confusable letters folded to Latin, ``-_.``
    removed, then ``l``/``i`` to ``1`` and ``o`` to ``0``.

    ``Requests``, ``re-quests``, ``reque_sts`` and ``requests`` spelt with a Cyrillic ``e`` all
    give ``requests``; ``djang0`` and ``Django`` both give ``djang0``."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    # Combining marks (an accent added to a letter) do not change how a name reads at a glance.
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)
    )
    folded = folded.translate(_CONFUSABLES).translate(_SEPARATORS)
    return folded.translate(_ASCII_LOOKALIKES)


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
