"""The in-process download counter: a dict increment per download, written in batches.

``FilesApp`` calls :meth:`DownloadCounter.hit` for each full ``GET`` of a distribution file
(status 200: not ``HEAD``, not a range read, not a 304, not a ``.metadata`` sidecar). That is a
dict increment under a lock, keyed by the file's sha256 and the day. A background thread
flushes every ``download_flush_interval`` seconds: it resolves the sha256s to (project, package
type) in one query and adds the counts with one upsert per key (stockade.stats.counts). A
failed flush keeps its counts for the next one; :meth:`stop` (the app's shutdown) flushes
what is left, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict

from sqlalchemy import select

from stockade.db import Database
from stockade.index.models import File
from stockade.stats.counts import CountKey, add_counts

__all__ = ["DownloadCounter", "counts_as_download"]

log = logging.getLogger(__name__)

_DAY = 86400


def counts_as_download(filename: str) -> bool:
    """Whether fetching this file is a download (distribution files, not sidecars)."""
    return not filename.endswith(".metadata")


class DownloadCounter:
    """Counts downloads in memory and writes them to the database every ``interval`` s."""

    def __init__(self, db: Database, *, interval: float = 5.0) -> None:
        self.db = db
        self.interval = interval
        self._pending: dict[tuple[str, int], int] = defaultdict(int)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hit(self, sha256: str, filename: str) -> None:
        """One full download of the file with this sha256 (the hot path: no I/O)."""
        if not counts_as_download(filename):
            return
        key = (sha256, int(time.time()) // _DAY)
        with self._lock:
            self._pending[key] += 1

    @property
    def pending(self) -> int:
        """Downloads counted but not written yet."""
        with self._lock:
            return sum(self._pending.values())

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stockade-downloads", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the counts stay pending; the next flush retries them
                log.exception("writing download counts failed")

    def flush(self) -> int:
        """Write pending counts now; returns how many downloads were written."""
        with self._flush_lock:
            with self._lock:
                batch = dict(self._pending)
                self._pending.clear()
            if not batch:
                return 0
            try:
                return self._write(batch)
            except BaseException:
                with self._lock:
                    for key, n in batch.items():
                        self._pending[key] += n
                raise

    def _write(self, batch: dict[tuple[str, int], int]) -> int:
        epoch = dt.date(1970, 1, 1)
        digests = sorted({sha for sha, _day in batch})
        with self.db.write() as session:
            files: dict[str, tuple[int, str]] = {}
            for i in range(0, len(digests), 500):
                rows = session.execute(
                    select(File.sha256_digest, File.project_id, File.packagetype).where(
                        File.sha256_digest.in_(digests[i : i + 500])
                    )
                )
                files.update({r.sha256_digest: (r.project_id, r.packagetype) for r in rows})
            counts: dict[CountKey, int] = defaultdict(int)
            for (sha, day), n in batch.items():
                if sha in files:
                    project_id, packagetype = files[sha]
                    counts[(project_id, packagetype, epoch + dt.timedelta(days=day))] += n
            return add_counts(session, counts)
