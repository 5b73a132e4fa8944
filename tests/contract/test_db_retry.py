"""`Database.run_write` on this run's backend: a write unit that meets real contention (SQLite
busy past its timeout, a PostgreSQL deadlock) is run again and commits; without the retry the
same contention fails; an error that is not contention is never retried."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from stockade.db import Database, utcnow
from stockade.db.engine import transient_reason
from stockade.storage.holds import BlobHold
from support.backend import BACKEND
from support.index import Index


def _retries(reason: str) -> float:
    return REGISTRY.get_sample_value("stockade_db_retries_total", {"reason": reason}) or 0.0


def _hold(key: str) -> Callable[[Session], None]:
    def unit(session: Session) -> None:
        session.add(BlobHold(key=key, since=utcnow()))

    return unit


def _keys(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(BlobHold.key)))


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's busy database")
def test_sqlite_busy_past_the_timeout_is_retried(index: Index) -> None:
    path = index.db.url.database
    assert path is not None
    db = Database(index.settings.database_url, busy_timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    released = threading.Event()

    def hold_the_write_lock(seconds: float) -> threading.Thread:
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO blob_holds (key, since) VALUES ('other', '2026-01-01')")

        def release() -> None:
            time.sleep(seconds)
            holder.execute("COMMIT")
            released.set()

        thread = threading.Thread(target=release)
        thread.start()
        return thread

    try:
        # Without a retry, a writer that waited its whole busy timeout fails.
        thread = hold_the_write_lock(0.5)
        with pytest.raises(DBAPIError) as failed:
            db.run_write(_hold("once"), attempts=1)
        assert transient_reason(failed.value) == "busy"
        thread.join()
        released.clear()
        holder.execute("DELETE FROM blob_holds")

        before = _retries("busy")
        thread = hold_the_write_lock(0.3)
        started = time.monotonic()
        db.run_write(_hold("retried"), attempts=20)
        # It committed after the lock was released, so it failed at least once before.
        assert released.is_set() and time.monotonic() - started >= 0.3
        assert _retries("busy") >= before + 1
        thread.join()
        assert _keys(db) == {"other", "retried"}
    finally:
        holder.close()
        db.dispose()


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's deadlock detection")
@pytest.mark.parametrize("attempts", [1, 5])
def test_postgres_deadlock_is_retried(index: Index, attempts: int) -> None:
    """Two units lock the same two rows in opposite orders: PostgreSQL aborts one of them
    (deadlock_timeout, 1 s); with retries it runs again after the other commits."""
    db = index.db
    with db.write() as session:
        session.add_all([BlobHold(key="a", since=utcnow()), BlobHold(key="b", since=utcnow())])
    both_locked = threading.Barrier(2, timeout=20)
    runs = {"a": 0, "b": 0}
    outcomes: dict[str, str] = {}

    def crossing(first: str, second: str) -> Callable[[Session], None]:
        def unit(session: Session) -> None:
            runs[first] += 1
            lock = "SELECT key FROM blob_holds WHERE key = :key FOR UPDATE"
            session.execute(text(lock), {"key": first})
            if runs[first] == 1:
                both_locked.wait()
            session.execute(text(lock), {"key": second})
            session.execute(
                text("UPDATE blob_holds SET since = now() WHERE key IN (:a, :b)"),
                {"a": first, "b": second},
            )

        return unit

    def run(first: str, second: str) -> None:
        try:
            db.run_write(crossing(first, second), attempts=attempts)
            outcomes[first] = "committed"
        except DBAPIError as exc:
            outcomes[first] = transient_reason(exc) or repr(exc)
        except BaseException as exc:  # every thread reports
            outcomes[first] = repr(exc)

    before = _retries("deadlock")
    threads = [threading.Thread(target=run, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["a", "b"], outcomes
    if attempts == 1:
        assert sorted(outcomes.values()) == ["committed", "deadlock"]
        assert _retries("deadlock") == before
    else:
        assert outcomes == {"a": "committed", "b": "committed"}
        assert sorted(runs.values()) == [1, 2]
        assert _retries("deadlock") == before + 1


def test_an_error_that_is_not_contention_is_not_retried(index: Index) -> None:
    index.db.run_write(_hold("taken"))
    runs = []

    def duplicate(session: Session) -> None:
        runs.append(1)
        _hold("taken")(session)

    with pytest.raises(IntegrityError) as failed:
        index.db.run_write(duplicate)
    assert transient_reason(failed.value) is None
    assert runs == [1]
