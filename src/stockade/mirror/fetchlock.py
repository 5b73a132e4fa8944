"""One upstream fetch per file across workers: a lock per blob sha256.

Within a worker, concurrent requests already share one fetch (``stockade.mirror.fetch``); this
keeps two workers from fetching the same file at once. The loser waits for the winner, then
finds the blob in storage.

- PostgreSQL (workers may run on several machines): session-level advisory locks, all held on
  one connection per worker, so a worker fetching fifty files holds one connection, not fifty.
  A worker that dies loses its connection and with it its locks.
- SQLite (every worker on one machine, sharing the data directory): ``flock`` on a file per
  blob in the data directory's tmp folder. A dead process's locks go with it.

Losing a lock (a dropped connection) costs at most a second fetch of the same bytes: blobs
are content-addressed, so the second ``put_file`` is a no-op.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from stockade.db import Database

__all__ = ["FetchLocks", "FileFetchLocks", "PostgresFetchLocks", "fetch_locks_for"]

log = logging.getLogger(__name__)

# The high 32 bits of every mirror fetch lock key ("mirr" in ASCII), so they cannot collide
# with the journal's transaction lock or any other advisory lock.
_NAMESPACE = 0x6D697272


class FetchLocks(Protocol):
    """Non-blocking locks named by a blob's sha256; every method may block briefly (threads)."""

    def try_acquire(self, sha256: str) -> bool:
        """Take the lock if nobody holds it; True when taken."""
        ...

    def release(self, sha256: str) -> None:
        """Give back a lock this worker took."""

    def close(self) -> None:
        """Release every lock and the resources behind them."""


def fetch_locks_for(db: Database, lock_dir: Path) -> FetchLocks:
    """The right locks for this database: files for SQLite, advisory locks for PostgreSQL."""
    if db.is_sqlite:
        return FileFetchLocks(lock_dir)
    return PostgresFetchLocks(db)


def _key(sha256: str) -> int:
    """A signed 64-bit advisory lock key: the namespace, then 32 bits of the sha256."""
    value = (_NAMESPACE << 32) | int(sha256[:8], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


class PostgresFetchLocks:
    """Session-level advisory locks on one connection of this worker's own."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Connection | None = None
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            # Autocommit: the connection holds locks, never an open transaction.
            self._conn = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._held.clear()  # a new session holds nothing
        return self._conn

    def try_acquire(self, sha256: str) -> bool:
        with self._mutex:
            if sha256 in self._held:
                return False  # one fetch per file in this worker too
            try:
                taken = self._try(sha256)
            except DBAPIError:
                # The held connection died (a restart, an idle timeout): its locks went with
                # it. Once more on a new connection.
                log.warning("mirror fetch lock: connection lost, reconnecting", exc_info=True)
                self._drop()
                taken = self._try(sha256)
            if taken:
                self._held.add(sha256)
            return taken

    def _try(self, sha256: str) -> bool:
        conn = self._connection()
        result = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(sha256)})
        return bool(result.scalar())

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None
        self._held.clear()

    def release(self, sha256: str) -> None:
        with self._mutex:
            if sha256 not in self._held or self._conn is None:
                return
            self._held.discard(sha256)
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(sha256)})
            except DBAPIError:  # the connection is gone, and its locks with it
                log.warning("mirror fetch lock: could not unlock %s", sha256, exc_info=True)
                self._drop()

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                self._conn.close()  # ends the session: every lock it held is released
                self._conn = None
            self._held.clear()


class FileFetchLocks:
    """``flock`` on ``<lock_dir>/<sha256>.lock``; the holder removes the file when done."""

    def __init__(self, lock_dir: Path) -> None:
        # Made on the first fetch: an index that mirrors nothing leaves no trace in <data>/tmp.
        self._dir = lock_dir
        self._held: dict[str, int] = {}
        self._mutex = threading.Lock()

    def try_acquire(self, sha256: str) -> bool:
        path = self._dir / f"{sha256}.lock"
        with self._mutex:
            if sha256 in self._held:
                return False
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:
                self._dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            # The previous holder may have removed the file between our open and our flock:
            # then we locked an orphan, and someone else may lock the new file. Try again later.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                return False
            self._held[sha256] = fd
            return True

    def release(self, sha256: str) -> None:
        with self._mutex:
            fd = self._held.pop(sha256, None)
            if fd is None:
                return
            # Remove the file while still holding the lock, so lock files do not pile up.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._dir / f"{sha256}.lock")
            os.close(fd)

    def close(self) -> None:
        for sha256 in list(self._held):
            self.release(sha256)
