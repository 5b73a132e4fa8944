"""The blob storage seam: one protocol, one error, one key grammar shared by every backend.

Keys are ``/``-separated relative strings such as ``blobs/sha256/ab/cd/<hex>``. Blobs are
content-addressed by their callers, so a key, once written, always names the same bytes: writes
are atomic (a reader sees the whole object or nothing) and re-putting an existing key is a cheap
no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "BlobNotFound",
    "BlobStorage",
    "check_key",
    "check_prefix",
    "check_range",
]

DEFAULT_CHUNK_SIZE = 256 * 1024

_FORBIDDEN_CHARS = ("\\", "\x00")


class BlobNotFound(KeyError):
    """The requested key does not exist in the store."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"blob not found: {self.key!r}"


def check_key(key: str) -> str:
    """Return ``key`` unchanged if it is a valid blob key, else raise ``ValueError``.

    A valid key is relative, non-empty, and made of non-empty ``/``-separated segments, none of
    them ``.`` or ``..``; backslashes and NUL are refused so a key means the same on every backend.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("blob key must be a non-empty string")
    if key.startswith("/"):
        raise ValueError(f"blob key must be relative: {key!r}")
    if any(c in key for c in _FORBIDDEN_CHARS):
        raise ValueError(f"blob key contains a forbidden character: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"blob key has an empty, '.' or '..' segment: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Validate a listing prefix: ``""`` or the start of a key (it may end with ``/``)."""
    if prefix == "":
        return prefix
    check_key(prefix.removesuffix("/") if prefix.endswith("/") else prefix + "x")
    return prefix


def check_range(start: int, end: int | None, chunk_size: int) -> None:
    """Refuse a negative start, an end before the start, or a non-positive chunk size."""
    if start < 0:
        raise ValueError(f"range start must be >= 0, got {start}")
    if end is not None and end < start:
        raise ValueError(f"range end ({end}) is before its start ({start})")
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")


@runtime_checkable
class BlobStorage(Protocol):
    """Where distribution files and other blobs live (local files or an S3-compatible store)."""

    def put_file(self, key: str, source: Path) -> None:
        """Store a copy of ``source`` under ``key``, atomically; a no-op if ``key`` exists.

        The caller's file is never moved or modified.
        """

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, atomically; a no-op if ``key`` exists."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` names a stored blob."""
        ...

    def size(self, key: str) -> int:
        """The blob's length in bytes; ``BlobNotFound`` if missing."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The whole blob in memory; ``BlobNotFound`` if missing. Prefer ``iter_range``."""
        ...

    def iter_range(
        self,
        key: str,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> Iterator[bytes]:
        """Stream bytes ``[start, end)`` in chunks of at most ``chunk_size`` bytes.

        ``end=None`` means to the end of the blob; a range past the end is clipped (possibly to
        nothing). ``BlobNotFound`` is raised by the call itself when the key is missing, so
        callers can answer 404 before they start a response.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing key is not an error."""

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key starting with ``prefix`` (a plain string prefix), each once.

        The order is backend-specific: AWS S3 and the local backend list in string order, but
        some S3-compatible stores (SeaweedFS) list directory by directory.
        """
        ...

    def local_path(self, key: str) -> Path | None:
        """A real file holding the blob when the backend is local (for sendfile), else ``None``."""
        ...

    def close(self) -> None:
        """Release connections and other resources."""
