"""Following another worker's fetch of the same file, on the same machine.

A worker that loses the cross-worker fetch lock would otherwise send its clients nothing until
the winner is done: for a large file that is longer than installers wait for a first byte. The
workers of one ``stockade serve`` share the data folder, so the loser finds the winner's spool
file there (``<tmp>/mirror/<sha256>.*.part``) and copies it into its own spool as it grows; its
readers follow its own spool as usual, with the last bytes held back. The follower hashes what
it copies and checks the sha256 itself once the winner has stored the blob: what a client gets
never depends on trusting another process. When the winner's spool is not reachable (workers
on other machines), nothing is copied and the loser waits for the blob in storage.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

__all__ = ["SpoolFollower"]

_CHUNK = 64 * 1024
# At most this much is copied per call, so the caller gets to report progress (and try the
# lock) in between.
STEP = 8 * 1024 * 1024


class SpoolFollower:
    """Copies another worker's spool file of blob ``sha256`` into ``own``; calls block (run
    them in a thread)."""

    def __init__(self, spool_dir: Path, sha256: str, own: Path, bound: int) -> None:
        self.spool_dir = spool_dir
        self.sha256 = sha256
        self.own = own
        self.bound = bound
        self.copied = 0
        self.hash = hashlib.sha256()
        self._source: int | None = None
        self._out: int | None = None

    def copy_some(self) -> int:
        """Copy up to ``STEP`` new bytes; returns how many. Raises ``OverflowError`` past the
        bound (the file's declared size or the size limit)."""
        if self.copied == 0:
            self._choose()  # until the first byte, the newest spool file of this blob
        if self._source is None:
            return 0
        if self._out is None:
            self._out = os.open(self.own, os.O_WRONLY | os.O_APPEND)
        done = 0
        while done < STEP:
            chunk = os.pread(self._source, min(_CHUNK, STEP - done), self.copied)
            if not chunk:
                break
            if self.copied + len(chunk) > self.bound:
                raise OverflowError(self.copied + len(chunk))
            os.write(self._out, chunk)
            self.hash.update(chunk)
            self.copied += len(chunk)
            done += len(chunk)
        return done

    def _choose(self) -> None:
        newest: tuple[float, Path] | None = None
        for path in self.spool_dir.glob(f"{self.sha256}.*.part"):
            if path == self.own:
                continue
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            if newest is None or mtime > newest[0]:
                newest = (mtime, path)
        if newest is None:
            return
        try:
            fd = os.open(newest[1], os.O_RDONLY)
        except FileNotFoundError:
            return
        self._close_source()
        self._source = fd

    def _close_source(self) -> None:
        if self._source is not None:
            os.close(self._source)
            self._source = None

    def close(self) -> None:
        self._close_source()
        if self._out is not None:
            with contextlib.suppress(OSError):
                os.close(self._out)
            self._out = None
