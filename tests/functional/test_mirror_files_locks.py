"""The cross-worker fetch locks: one holder per blob, released for the next, surviving a lost
database connection (PostgreSQL) and leaving no lock files behind (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from stockade.config import Settings
from stockade.db import Database
from stockade.mirror.fetchlock import FileFetchLocks, PostgresFetchLocks, fetch_locks_for

A = "a" * 64
B = "b" * 64


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    yield database
    database.dispose()


def test_one_holder_per_blob(db: Database, tmp_path: Path) -> None:
    first = fetch_locks_for(db, tmp_path / "locks")
    second = fetch_locks_for(db, tmp_path / "locks")  # another worker
    try:
        assert first.try_acquire(A)
        assert not first.try_acquire(A)  # not twice in one worker either
        assert not second.try_acquire(A)
        assert second.try_acquire(B)  # other blobs are free
        first.release(A)
        assert second.try_acquire(A)
        second.release(A)
        second.release(B)
    finally:
        first.close()
        second.close()
    if isinstance(first, FileFetchLocks):
        assert list((tmp_path / "locks").iterdir()) == []


def test_closing_releases_everything(db: Database, tmp_path: Path) -> None:
    first = fetch_locks_for(db, tmp_path / "locks")
    second = fetch_locks_for(db, tmp_path / "locks")
    try:
        assert first.try_acquire(A)
        first.close()  # a worker shutting down (or dying: its connection or process goes)
        assert second.try_acquire(A)
    finally:
        second.close()


def test_a_lost_connection_is_replaced(db: Database, tmp_path: Path) -> None:
    locks = fetch_locks_for(db, tmp_path / "locks")
    if not isinstance(locks, PostgresFetchLocks):
        pytest.skip("SQLite's locks hold no connection")
    other = fetch_locks_for(db, tmp_path / "locks")
    try:
        assert locks.try_acquire(A)
        pid = locks._connection().execute(text("SELECT pg_backend_pid()")).scalar()
        with db.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # The lock died with its session: another worker may take it ...
        assert other.try_acquire(A)
        other.release(A)
        # ... and this worker's next lock works, on a new connection.
        assert locks.try_acquire(B)
        assert not other.try_acquire(B)
    finally:
        locks.close()
        other.close()
