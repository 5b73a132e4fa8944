"""Upstream files fetched on first download, streamed to the client while they are stored.

One ``BlobFetcher`` per worker. A request for an uncached file starts a fetch: a background
task that takes the cross-worker lock (``stockade.mirror.fetchlock``), downloads the file in
chunks into a spool file in the data directory's tmp folder while hashing it, and checks the
sha256 (and the size) at the end. Only then is the spool file stored (``put_file``: local
files or S3) and the ``on_stored`` hook told (the database marks the file cached).

Every request for that file, the first one included, reads the spool file as it grows,
starting from its beginning: a request arriving half-way gets the bytes already received, then
follows. The last ``holdback`` bytes are never handed out before the sha256 checks out, so when
the bytes do not match, or the upstream stops half-way or fails, every reader's iterator raises
``UpstreamFailed`` with at least one byte missing: no client ever gets a complete wrong file,
and nothing is stored. The next request starts a new fetch.

A worker that loses the cross-worker lock follows the winner's spool file when they share the
data folder (``stockade.mirror.follow``), else waits for the blob in storage.

Memory stays bounded whatever the file's size: chunks go to disk, readers read chunks back.
The fetch does not depend on the first client: it goes on when that client disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio

from stockade.mirror.fetchlock import FetchLocks
from stockade.mirror.follow import SpoolFollower
from stockade.storage import BlobStorage

if TYPE_CHECKING:
    import httpx

__all__ = ["BlobFetcher", "StoredBlob", "UpstreamBlob", "UpstreamFailed", "file_auth"]

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
# How often a worker that lost the cross-worker lock tries again (seconds).
_LOCK_POLL = 0.2
# Tries of an upstream that fails before the first byte, the first pause (doubling) between.
_ATTEMPTS = 3
_BACKOFF = 0.5
# A spool file untouched this long (seconds) was left by a worker that was killed.
_STALE_SPOOL = 86400


class UpstreamFailed(Exception):
    """The upstream could not give us the file's right bytes; the message says why in a line."""


class _Retryable(Exception):
    """A failure before the first byte that may pass: the upstream is asked again."""


@dataclass(frozen=True)
class UpstreamBlob:
    """One file to fetch from an upstream."""

    url: str  # absolute
    sha256: str  # expected, lower-case hex
    size: int | None  # as declared upstream: once exceeded, the fetch fails
    auth: tuple[str, str] | None  # see file_auth: only for the upstream's own hosts
    blob_key: str  # stockade.index.paths.blob_key(sha256)
    # A bound tighter than the fetcher's size limit (a metadata sidecar is not 4 GiB).
    limit: int | None = None


@dataclass(frozen=True)
class StoredBlob:
    """A blob now in storage, as told to the ``on_stored`` hook (in a thread)."""

    sha256: str
    size: int
    # None when another worker fetched it (this one found it in storage).
    md5: str | None
    blake2_256: str | None
    # The verified bytes on local disk, until the hook returns (None: found in storage).
    path: Path | None


class _Fetch:
    """One file's download, shared by every request for it in this worker."""

    def __init__(self, blob: UpstreamBlob, spool: Path) -> None:
        self.blob = blob
        self.spool = spool
        self.received = 0  # bytes written to the spool file
        self.verified = False  # the sha256 checked out: every byte may be handed out
        self.from_storage = False  # another worker stored it: read it from storage
        self.error: UpstreamFailed | None = None
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def changed(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait(self) -> None:
        await self._changed.wait()


class BlobFetcher:
    """Fetches upstream files for this worker; see the module's docstring."""

    def __init__(
        self,
        storage: BlobStorage,
        locks: FetchLocks,
        *,
        tmp_dir: Path,
        max_bytes: int,
        timeout: float = 30.0,
        holdback: int = _CHUNK,
        on_stored: Callable[[StoredBlob], None] | None = None,
    ) -> None:
        self.storage = storage
        self.locks = locks
        self.tmp_dir = tmp_dir
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.holdback = max(1, holdback)
        self.on_stored = on_stored
        self._inflight: dict[str, _Fetch] = {}
        self._swept = False  # spool files a killed worker left are removed once
        self._client: httpx.AsyncClient | None = None

    # -- the readers' side ----------------------------------------------------------------------
    async def stream(self, blob: UpstreamBlob) -> AsyncGenerator[bytes, None]:
        """Yield the file's bytes while they arrive and are stored; concurrent callers for the
        same sha256 share one upstream fetch; the final bytes are held back until the sha256
        checks out; on mismatch / cut-off / upstream error the iterator raises UpstreamFailed
        (the response is aborted, nothing is stored)."""
        # Joining and opening the spool file happen with no await in between, so the fetch
        # cannot finish and remove its spool file in the meantime.
        fetch = self._inflight.get(blob.sha256)
        if fetch is None:
            fetch = self._start(blob)
        fd = os.open(fetch.spool, os.O_RDONLY)
        try:
            offset = 0
            while True:
                if fetch.from_storage:
                    break
                limit = fetch.received if fetch.verified else fetch.received - self.holdback
                if offset < limit:
                    chunk = os.pread(fd, min(_CHUNK, limit - offset), offset)
                    if not chunk:  # the spool file was replaced under us: never a short file
                        raise UpstreamFailed("the download's spool file went away")
                    offset += len(chunk)
                    yield chunk
                    continue
                if fetch.error is not None:
                    raise fetch.error
                if fetch.verified:
                    break
                await fetch.wait()
        finally:
            os.close(fd)
        if fetch.from_storage:
            async for chunk in self._from_storage(blob):
                yield chunk
            return
        # Every byte is out; end once the blob is stored and recorded, so that a finished
        # download means a cached file. Shielded: the fetch is not this request's to cancel.
        assert fetch.task is not None
        await asyncio.shield(fetch.task)

    async def _from_storage(self, blob: UpstreamBlob) -> AsyncIterator[bytes]:
        chunks = self.storage.iter_range(blob.blob_key, chunk_size=_CHUNK)
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                return
            yield chunk

    async def ensure(self, blob: UpstreamBlob) -> None:
        """Wait until the blob is in storage (fetching it, or joining the fetch under way);
        UpstreamFailed when the fetch fails."""
        fetch = self._inflight.get(blob.sha256)
        if fetch is None:
            fetch = self._start(blob)
        assert fetch.task is not None
        # Shielded: a request that goes away must not cancel the fetch others share.
        await asyncio.shield(fetch.task)
        if fetch.error is not None:
            raise fetch.error

    # -- the fetch ------------------------------------------------------------------------------
    def _start(self, blob: UpstreamBlob) -> _Fetch:
        spool_dir = self.tmp_dir / "mirror"
        if not self._swept:
            spool_dir.mkdir(parents=True, exist_ok=True)
            _sweep(spool_dir)
            self._swept = True
        spool = spool_dir / f"{blob.sha256}.{secrets.token_hex(4)}.part"
        spool.touch(mode=0o600)
        fetch = _Fetch(blob, spool)
        self._inflight[blob.sha256] = fetch
        fetch.task = asyncio.get_running_loop().create_task(self._run(fetch))
        return fetch

    async def _run(self, fetch: _Fetch) -> None:
        blob = fetch.blob
        locked = False
        follower = SpoolFollower(fetch.spool.parent, blob.sha256, fetch.spool, self._bound(blob))
        try:
            while not await anyio.to_thread.run_sync(self.locks.try_acquire, blob.sha256):
                # Another worker fetches it: follow its spool file meanwhile, if it is here.
                await self._follow(fetch, follower)
                await asyncio.sleep(_LOCK_POLL)
            locked = True
            stored = await anyio.to_thread.run_sync(self.storage.exists, blob.blob_key)
            if follower.copied:
                if not stored:
                    raise UpstreamFailed("the worker fetching the file failed")
                await self._follow(fetch, follower)  # the rest, now that the winner is done
                if follower.hash.hexdigest() != blob.sha256:
                    raise UpstreamFailed("the file another worker fetched did not check out")
                fetch.verified = True
                fetch.changed()
                return
            if stored:
                fetch.from_storage = True
                size = await anyio.to_thread.run_sync(self.storage.size, blob.blob_key)
                await self._tell(StoredBlob(blob.sha256, size, None, None, None))
                return
            digests = await self._download(fetch)
            fetch.verified = True
            fetch.changed()  # readers may hand out the held-back bytes now
            await anyio.to_thread.run_sync(self.storage.put_file, blob.blob_key, fetch.spool)
            await self._tell(StoredBlob(blob.sha256, fetch.received, *digests, fetch.spool))
        except UpstreamFailed as exc:
            log.warning("mirror: %s: %s", blob.url, exc)
            fetch.error = exc
        except Exception as exc:
            log.exception("mirror: fetching %s failed", blob.url)
            if not fetch.verified:
                fetch.error = UpstreamFailed(f"fetching the file failed ({type(exc).__name__})")
        finally:
            follower.close()
            if fetch.error is None and not fetch.verified and not fetch.from_storage:
                fetch.error = UpstreamFailed("the fetch was stopped")  # cancelled: shutdown
            if locked:
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(self.locks.release, blob.sha256)
            del self._inflight[blob.sha256]
            fetch.spool.unlink(missing_ok=True)
            fetch.changed()

    async def _follow(self, fetch: _Fetch, follower: SpoolFollower) -> None:
        """Copy what the other worker's spool file has gained, telling the readers."""
        try:
            while copied := await anyio.to_thread.run_sync(follower.copy_some):
                fetch.received += copied
                fetch.changed()
        except OverflowError as exc:
            raise UpstreamFailed(_too_big(fetch.blob, exc.args[0], self.max_bytes)) from exc

    def _bound(self, blob: UpstreamBlob) -> int:
        """The most bytes the file may have: its declared size, within the size limits."""
        bound = self.max_bytes if blob.limit is None else min(self.max_bytes, blob.limit)
        return bound if blob.size is None else min(bound, blob.size)

    async def _tell(self, stored: StoredBlob) -> None:
        if self.on_stored is None:
            return
        try:
            await anyio.to_thread.run_sync(self.on_stored, stored)
        except Exception:  # the blob is stored; the next request marks it again
            log.exception("mirror: recording the stored blob %s failed", stored.sha256)

    async def _download(self, fetch: _Fetch) -> tuple[str, str]:
        """Download into the spool file; returns (md5, blake2_256) once the sha256 checked out.

        An upstream that fails before the first byte (cannot be reached, 5xx, 429) is asked
        again after a pause; once bytes have gone to readers, a failure is final."""
        attempt = 1
        while True:
            try:
                return await self._attempt(fetch)
            except _Retryable as exc:
                if fetch.received or attempt == _ATTEMPTS:
                    raise UpstreamFailed(str(exc)) from exc
                log.info("mirror: %s: %s, trying again", fetch.blob.url, exc)
                await asyncio.sleep(_BACKOFF * 2 ** (attempt - 1))
                attempt += 1

    async def _attempt(self, fetch: _Fetch) -> tuple[str, str]:
        import httpx

        blob = fetch.blob
        bound = self._bound(blob)
        sha256 = hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False)
        blake2 = hashlib.blake2b(digest_size=32)
        client = self._http()
        try:
            async with client.stream(
                "GET",
                blob.url,
                auth=blob.auth,
                # The bytes as stored upstream: the sha256 is of them, not of a decoding.
                headers={"Accept-Encoding": "identity"},
            ) as response:
                status = response.status_code
                if status >= 500 or status == 429:
                    raise _Retryable(f"the upstream answered {status}")
                if status != 200:
                    raise UpstreamFailed(f"the upstream answered {status}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > bound:
                    raise UpstreamFailed(_too_big(blob, int(declared), self.max_bytes))
                # Scratch, never fsynced: storage.put_file makes the stored copy durable.
                with open(fetch.spool, "wb") as out:
                    async for chunk in response.aiter_raw(_CHUNK):
                        if fetch.received + len(chunk) > bound:
                            raise UpstreamFailed(
                                _too_big(blob, fetch.received + len(chunk), self.max_bytes)
                            )
                        out.write(chunk)
                        out.flush()  # readers pread the file as it grows
                        sha256.update(chunk)
                        md5.update(chunk)
                        blake2.update(chunk)
                        fetch.received += len(chunk)
                        fetch.changed()
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Retryable(_describe(exc)) from exc
        except httpx.HTTPError as exc:
            if not fetch.received:
                raise _Retryable(_describe(exc)) from exc
            raise UpstreamFailed(_describe(exc)) from exc
        if blob.size is not None and fetch.received != blob.size:
            raise UpstreamFailed(
                f"the upstream sent {fetch.received} bytes of {blob.size} (cut off)"
            )
        if sha256.hexdigest() != blob.sha256:
            raise UpstreamFailed(
                f"the upstream's bytes have sha256 {sha256.hexdigest()}, not {blob.sha256}"
            )
        return md5.hexdigest(), blake2.hexdigest()

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                follow_redirects=True,
                max_redirects=5,
                headers={"User-Agent": "stockade-mirror"},
            )
        return self._client

    async def aclose(self) -> None:
        """Stop every fetch (their readers fail) and close the HTTP client and the locks."""
        for fetch in list(self._inflight.values()):
            if fetch.task is not None:
                fetch.task.cancel()
        for fetch in list(self._inflight.values()):
            if fetch.task is not None:
                with contextlib.suppress(BaseException):
                    await fetch.task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await anyio.to_thread.run_sync(self.locks.close)


def _sweep(spool_dir: Path) -> None:
    """Remove spool files nobody has written to for a day: a live fetch writes to its spool
    file all along, and a waiting one gives up long before (timeouts)."""
    cutoff = time.time() - _STALE_SPOOL
    for path in spool_dir.glob("*.part"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def _too_big(blob: UpstreamBlob, size: int, max_bytes: int) -> str:
    if blob.size is not None and size > blob.size:
        return f"the upstream sent more than the {blob.size} bytes it declared"
    limit = max_bytes if blob.limit is None else min(max_bytes, blob.limit)
    return f"the file is larger than the mirror's limit of {limit} bytes"


def file_auth(
    url: str,
    upstream_url: str,
    files_url: str | None,
    username: str | None,
    password: str | None,
) -> tuple[str, str] | None:
    """The upstream's credentials for fetching ``url``, or None when ``url`` is on another
    host than the upstream's simple root and files root: a page must not be able to send our
    credentials elsewhere by listing a file there (pip, too, keeps credentials to their host)."""
    if not username:
        return None
    ours = {_origin(upstream_url)} | ({_origin(files_url)} if files_url else set())
    return (username, password or "") if _origin(url) in ours else None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or ""), port


def _describe(exc: httpx.HTTPError) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "the upstream timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the upstream closed the connection mid-download"
    return f"the upstream could not be reached ({type(exc).__name__})"
