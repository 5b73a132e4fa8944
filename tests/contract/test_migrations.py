"""The database seam: migrations build exactly the schema the models describe, on this run's
backend, and the invariants are backed by constraints."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from stockade import catalogue  # noqa: F401  (registers every table)
from stockade.config import Settings
from stockade.db import Base, Database
from stockade.db.base import utcnow
from stockade.db.migrate import upgrade
from stockade.index.models import FilenameRegistry


def test_migrations_match_models(settings: Settings) -> None:
    db = Database(settings.database_url)
    upgrade(db)
    upgrade(db)  # a second run is a no-op
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []


def test_sqlite_pragmas(settings: Settings) -> None:
    db = Database(settings.database_url)
    if not db.is_sqlite:
        pytest.skip("SQLite only")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    db.dispose()


def test_a_filename_is_registered_only_once(settings: Settings) -> None:
    db = Database(settings.database_url)
    upgrade(db)
    with db.write() as s:
        s.add(FilenameRegistry(filename="a-1.0.tar.gz", sha256_digest="0" * 64))
    with pytest.raises(IntegrityError), db.write() as s:
        s.add(FilenameRegistry(filename="a-1.0.tar.gz", sha256_digest="1" * 64))
    with db.read() as s:
        row = s.get(FilenameRegistry, "a-1.0.tar.gz")
        assert row is not None and row.sha256_digest == "0" * 64
        assert row.created_at <= utcnow()
    db.dispose()
