"""Alembic, driven from code: `stockade serve` and every CLI command migrate on start."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from sqlalchemy import text

if TYPE_CHECKING:
    from stockade.db.engine import Database

__all__ = ["alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every process that migrates.
_PG_LOCK_KEY = 0x5707CADE


def alembic_config(database: Database) -> Config:
    """An Alembic config pointing at our migrations and at ``database``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database"] = database
    return cfg


def upgrade(database: Database, revision: str = "head") -> None:
    """Upgrade to ``revision``. Several workers starting at once migrate one at a time."""
    cfg = alembic_config(database)
    with database.engine.connect() as conn:
        if not database.is_sqlite:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
        finally:
            if not database.is_sqlite:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
