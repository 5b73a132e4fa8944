"""The abuse migration fills the look-alike form of projects that existed before it, so the name
rules protect them at once, and goes back down cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from stockade.config import Settings
from stockade.db import Database
from stockade.db.migrate import alembic_config, upgrade


def _downgrade(db: Database, revision: str) -> None:
    cfg = alembic_config(db)
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()


def test_existing_projects_get_their_look_alike_form(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        # Test databases may start at the newest revision: go back to just before abuse.
        upgrade(db)
        _downgrade(db, "0005")
        with db.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("projects")}
            assert "ultranormalized_name" not in columns
            assert not sa.inspect(conn).has_table("abuse_reports")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO projects (name, normalized_name, created_at, last_serial, status,"
                    " total_size) VALUES (:n, :nn, CURRENT_TIMESTAMP, 0, 'active', 0)"
                ),
                [{"n": "Django", "nn": "django"}, {"n": "Pil.Low", "nn": "pil-low"}],
            )
        upgrade(db)
        with db.engine.connect() as conn:
            rows: dict[str, str] = dict(
                conn.execute(
                    sa.text("SELECT normalized_name, ultranormalized_name FROM projects")
                ).all()
            )
        assert rows == {"django": "djang0", "pil-low": "p1110w"}
    finally:
        db.dispose()
