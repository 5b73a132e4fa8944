"""Blob storage in a local directory: the embedded, production-default backend.

Every write goes to a temporary file under ``<root>/.tmp`` (the same filesystem as its final
place), is fsynced, renamed into place with ``os.replace`` and the directory is fsynced, so a
reader or a crash never leaves a partial blob under its real key.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from stockade.storage.interface import (
    DEFAULT_CHUNK_SIZE,
    BlobNotFound,
    check_key,
    check_prefix,
    check_range,
)

__all__ = ["LocalStorage"]

_COPY_BUFFER = 1024 * 1024
# The owner's alone: stockade serves the files itself (a front end in front of it
# reads them through stockade or from object storage, never from this folder).
_FILE_MODE = 0o600
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)

# Writes a blob's content into its temporary file.
_Filler = Callable[[BinaryIO], object]


class LocalStorage:
    """Blobs as files under ``root``: key ``a/b/c`` is the file ``root/a/b/c``."""

    TEMP_DIR = ".tmp"

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self._tmp = self.root / self.TEMP_DIR
        self._tmp.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    # -- writing -----------------------------------------------------------------------------

    def put_file(self, key: str, source: Path) -> None:
        """Copy ``source`` in under ``key`` (fsynced); a no-op if ``key`` already exists."""
        dest = self._path(key)
        if dest.is_file():
            return
        with open(source, "rb") as src:
            self._write_atomically(dest, lambda out: _copy(src, out))

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` under ``key`` (fsynced); a no-op if ``key`` already exists."""
        dest = self._path(key)
        if dest.is_file():
            return
        self._write_atomically(dest, lambda out: out.write(data))

    def delete(self, key: str) -> None:
        """Remove the blob's file; a missing key is fine."""
        path = self._path(key)
        try:
            path.unlink()
        except _MISSING:
            return
        _fsync_dir(path.parent)

    # -- reading -----------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        """Whether the blob's file exists."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """The blob's length in bytes."""
        path = self._path(key)
        try:
            info = path.stat()
        except _MISSING:
            raise BlobNotFound(key) from None
        if not stat.S_ISREG(info.st_mode):
            raise BlobNotFound(key)
        return info.st_size

    def get_bytes(self, key: str) -> bytes:
        """The whole blob in memory."""
        try:
            return self._path(key).read_bytes()
        except _MISSING:
            raise BlobNotFound(key) from None

    def iter_range(
        self,
        key: str,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> Iterator[bytes]:
        """Stream bytes ``[start, end)``; the file is opened (or ``BlobNotFound`` raised) now."""
        check_range(start, end, chunk_size)
        path = self._path(key)
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 -- closed by the generator
        except _MISSING:
            raise BlobNotFound(key) from None
        return _stream(handle, start, end, chunk_size)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with ``prefix`` in string order, never the temporary files."""
        check_prefix(prefix)
        directory, _, _ = prefix.rpartition("/")
        base = self.root.joinpath(*directory.split("/")) if directory else self.root
        yield from self._walk(base, directory + "/" if directory else "", prefix)

    def local_path(self, key: str) -> Path | None:
        """The blob's real file (for sendfile); ``BlobNotFound`` if missing."""
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path

    def close(self) -> None:
        """Nothing to release."""

    # -- maintenance -------------------------------------------------------------------------

    def remove_stale_temp_files(self, older_than: float = 3600.0) -> int:
        """Delete temporary files a crashed writer left behind; returns how many were removed."""
        cutoff = time.time() - older_than
        removed = 0
        for entry in os.scandir(self._tmp):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
        return removed

    # -- internals ---------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        segments = check_key(key).split("/")
        if segments[0] == self.TEMP_DIR:
            raise ValueError(f"blob key uses the reserved directory {self.TEMP_DIR!r}: {key!r}")
        return self.root.joinpath(*segments)

    def _write_atomically(self, dest: Path, fill: _Filler) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            os.fchmod(fd, _FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            _make_dirs(dest.parent)
            os.replace(tmp_name, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(dest.parent)

    def _walk(self, directory: Path, rel: str, prefix: str) -> Iterator[str]:
        try:
            with os.scandir(directory) as it:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        except _MISSING:
            return
        # Sorting a directory as "name/" yields keys in plain string order, as AWS S3 lists them.
        entries.sort(key=lambda item: item[0] + "/" if item[1] else item[0])
        for name, is_dir in entries:
            key = rel + name
            if is_dir:
                if key == self.TEMP_DIR:
                    continue
                sub = key + "/"
                if sub.startswith(prefix) or prefix.startswith(sub):
                    yield from self._walk(directory / name, sub, prefix)
            elif key.startswith(prefix) and (directory / name).is_file():
                yield key


def _stream(handle: BinaryIO, start: int, end: int | None, chunk_size: int) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            want = chunk_size if remaining is None else min(chunk_size, remaining)
            chunk = handle.read(want)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


def _make_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, fsyncing each parent that gained an entry."""
    if directory.is_dir():
        return
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(src: BinaryIO, out: BinaryIO) -> None:
    """Copy a whole file; in the kernel (sendfile) where the platform allows it."""
    try:
        size = os.fstat(src.fileno()).st_size
        offset = 0
        while offset < size:
            sent = os.sendfile(out.fileno(), src.fileno(), offset, min(size - offset, 1 << 30))
            if sent == 0:
                break
            offset += sent
        if offset == size:
            return
        src.seek(offset)
        out.seek(offset)
    except OSError as exc:
        # Only "sendfile cannot do this here" falls back; a full disk is a real failure.
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        src.seek(0)
        out.seek(0)
        out.truncate()
    shutil.copyfileobj(src, out, _COPY_BUFFER)
