"""Engine and session management for both supported backends.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Write transactions on SQLite
start with ``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of
failing with "database is locked" when one of them upgrades a read lock.

What contention can still do (SQLite busy past its timeout; PostgreSQL serialization failures,
deadlocks and lock timeouts) :meth:`Database.run_write` retries: the whole unit again, in a new
transaction, a bounded number of times with jittered backoff. Only a unit with no effect outside
its transaction may be run so (everything it does is rolled back with the failed attempt).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from stockade.metrics import DB_RETRIES

__all__ = ["Database", "transient_reason"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_SQLITE_BUSY_TIMEOUT = 30.0
# SQLITE_BUSY and SQLITE_LOCKED (primary result codes, the low byte of an extended code).
_SQLITE_CONTENTION = {5: "busy", 6: "busy"}
# SQLSTATEs that a new attempt of the same transaction may not meet again.
_PG_CONTENTION = {"40001": "serialization", "40P01": "deadlock", "55P03": "lock-timeout"}
ATTEMPTS = 5
_BACKOFF = 0.02  # seconds before the second attempt; doubled each time, jittered
_BACKOFF_CAP = 1.0


def transient_reason(exc: BaseException) -> str | None:
    """Why ``exc`` is a conflict that a new attempt may not meet (busy, serialization, deadlock,
    lock-timeout), or None when it is not one (then it must not be retried)."""
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return None
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            return _SQLITE_CONTENTION.get(code & 0xFF)
        return "busy" if "database is locked" in str(orig) else None
    return _PG_CONTENTION.get(getattr(orig, "sqlstate", None) or "")


class Database:
    """One database: an engine, read and write sessions, and migrations."""

    def __init__(
        self, url: str, *, echo: bool = False, busy_timeout: float = _SQLITE_BUSY_TIMEOUT
    ) -> None:
        self.url: URL = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine: Engine = _make_engine(self.url, echo=echo, busy_timeout=busy_timeout)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in a write transaction, committed on success, rolled back on error."""
        with self._sessions() as session:
            if self.is_sqlite:
                session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def run_write(self, unit: Callable[[Session], T], *, attempts: int = ATTEMPTS) -> T:
        """``unit(session)`` in a write transaction, committed; run again in a new transaction
        (at most ``attempts`` times in all, with jittered exponential backoff) when the database
        reports a transient conflict (:func:`transient_reason`). Any other error, or the last
        attempt's, propagates.

        ``unit`` must do nothing outside its session that a second run would repeat (no blob
        stored, no mail sent, no cache dropped): that belongs after the commit."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as session:
                    return unit(session)
            except DBAPIError as exc:
                reason = transient_reason(exc)
                if reason is None or attempt == attempts:
                    raise
                DB_RETRIES.labels(reason).inc()
                delay = min(_BACKOFF_CAP, _BACKOFF * 2 ** (attempt - 1))
                # Jittered: contenders that failed together do not come back together.
                pause = random.uniform(delay / 2, delay)  # noqa: S311  (timing, not secrets)
                log.info(
                    "write transaction met %s; attempt %d in %.3f s", reason, attempt + 1, pause
                )
                time.sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; nothing it does is committed.

        Closing (rather than rolling back) ends the transaction without expiring the loaded
        objects, so callers may keep using what they read.
        """
        with self._sessions() as session:
            yield session

    def ping(self) -> None:
        """Raise unless the database answers now (the readiness check).

        SQLite is asked through a new connection that may not create the file: a pooled one
        keeps reading a file that was moved away or a disk that failed. PostgreSQL's pool
        checks its connections before use (``pool_pre_ping``)."""
        if self.is_sqlite:
            path = self.url.database or ""
            uri = Path(path).absolute().as_uri() + "?mode=rw" if path != ":memory:" else path
            probe = sqlite3.connect(uri, uri=True, timeout=5)
            try:
                probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                probe.close()
            return
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection (call after fork and at shutdown)."""
        self.engine.dispose()


def _make_engine(url: URL, *, echo: bool, busy_timeout: float) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
        )
        _configure_sqlite(engine, busy_timeout)
        return engine
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(
            url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800
        )
    raise ValueError(f"unsupported database backend {url.get_backend_name()!r}")


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy (not the sqlite3 module) decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
