"""Engine and session management for both supported backends.

SQLite runs in WAL mode with foreign keys on and a busy timeout. Write transactions on SQLite
start with ``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of
failing with "database is locked" when one of them upgrades a read lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["Database"]

_SQLITE_BUSY_TIMEOUT_MS = 30_000


class Database:
    """One database: an engine, read and write sessions, and migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url: URL = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine: Engine = _make_engine(self.url, echo=echo)
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


def _make_engine(url: URL, *, echo: bool) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(
            url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800
        )
    raise ValueError(f"unsupported database backend {url.get_backend_name()!r}")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy (not the sqlite3 module) decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
