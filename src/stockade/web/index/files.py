"""Files (``/packages/…``) as a bare ASGI application: the installers' other hot path.

A request names the file's sha256 and filename. The first request for a file checks the
database (the file must be live and its project not quarantined); the answer is remembered
in a bounded per-worker map, dropped whenever the journal reports anything but additions.
Small files are read in one go and sent as one body; larger ones stream in chunks. ``Range``
requests (pip and uv read wheel metadata this way), ``If-None-Match`` and ``HEAD`` are
answered here.

A file from an upstream (a ``MirrorFile`` row) that is not in our storage yet is streamed from
the upstream through the worker's ``BlobFetcher`` while it is stored; the answer is not
remembered until it is cached. ``HEAD`` answers from upstream's declared size without fetching,
and neither it nor the streamed ``GET`` offers ranges yet; a ``Range`` request that comes anyway
waits for the whole file to be cached, then gets its range from storage.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import anyio
from sqlalchemy import select

from stockade.db import Database
from stockade.dists import DEFAULT_LIMITS
from stockade.index.models import File, Project
from stockade.index.paths import blob_key
from stockade.mirror.fetch import BlobFetcher, UpstreamBlob, UpstreamFailed, file_auth
from stockade.mirror.models import MirrorFile, MirrorUpstream
from stockade.storage import BlobNotFound, BlobStorage
from stockade.web.index.ranges import RangeNotSatisfiable, parse_range
from stockade.web.index.simple import Receive, Scope, Send, etag_matches, send_plain

__all__ = ["FilesApp"]

_HEX = re.compile(r"[0-9a-f]{64}")
_IMMUTABLE = b"public, max-age=31536000, immutable"
_ONE_SHOT = 1024 * 1024
_CHUNK = 256 * 1024
# An upstream's metadata sidecar is bounded like a METADATA file read from a wheel.
_METADATA_LIMIT = DEFAULT_LIMITS.max_member_size
# Journal actions that only add things never make a remembered answer wrong.
_ADDITIVE = ("add ", "create", "new release")


def media_type(filename: str) -> bytes:
    """The Content-Type of a file we serve (never a Content-Encoding: .tar.gz stays gzip)."""
    if filename.endswith(".metadata"):
        return b"text/plain; charset=utf-8"
    if filename.endswith(".whl"):
        return b"application/zip"
    if filename.endswith(".tar.gz"):
        return b"application/gzip"
    return b"application/octet-stream"


class FilesApp:
    """Serves distribution files and their PEP 658 metadata sidecars."""

    def __init__(self, db: Database, storage: BlobStorage, *, max_entries: int = 100_000) -> None:
        self.db = db
        self.storage = storage
        self.max_entries = max_entries
        self._known: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by every forget(): a lookup that raced with one is not remembered (it may
        # have read the file just before it was deleted or quarantined).
        self._generation = 0
        # Told of each full GET of a file (stockade.stats.counter.DownloadCounter.hit).
        self.on_download: Callable[[str, str], None] | None = None
        # Fetches upstream files not cached yet (None: upstream files are served once cached).
        self.fetcher: BlobFetcher | None = None

    # -- what may be served -------------------------------------------------------------------
    def journal_changed(self, name: str, action: str) -> None:
        """Journal listener: forget every answer when anything was taken away."""
        if not action.startswith(_ADDITIVE):
            self.forget()

    def forget(self) -> None:
        """Forget every remembered answer."""
        with self._lock:
            self._generation += 1
            self._known.clear()

    def _lookup(self, sha256: str, filename: str) -> str | UpstreamBlob | None:
        """The blob sha256 to serve for (file sha256, requested name), an upstream file to
        fetch first, or None."""
        want_metadata = filename.endswith(".metadata")
        dist_name = filename[: -len(".metadata")] if want_metadata else filename
        generation = self._generation
        with self.db.read() as session:
            row = session.execute(
                select(
                    File.metadata_sha256,
                    File.size,
                    Project.status,
                    MirrorFile.url,
                    MirrorFile.size.label("upstream_size"),
                    MirrorFile.cached,
                    MirrorFile.metadata_cached,
                    MirrorFile.core_metadata_sha256,
                    MirrorUpstream.url.label("upstream_url"),
                    MirrorUpstream.files_url,
                    MirrorUpstream.username,
                    MirrorUpstream.password,
                )
                .join(Project, Project.id == File.project_id)
                .outerjoin(MirrorFile, MirrorFile.file_id == File.id)
                .outerjoin(MirrorUpstream, MirrorUpstream.id == MirrorFile.upstream_id)
                .where(
                    File.filename == dist_name,
                    File.sha256_digest == sha256,
                    # A live file implies a live release and project (deletions cascade).
                    File.deletion_id.is_(None),
                )
                # A cached row first, when two upstreams list the same file.
                .order_by(MirrorFile.cached.desc())
            ).first()
        if row is None or row.status == "quarantined":
            return None
        blob = row.metadata_sha256 if want_metadata else sha256
        if blob is None:
            return None
        if row.url is not None:
            upstream = _upstream_blob(row, blob, want_metadata)
            if upstream is not None:
                return upstream
        with self._lock:
            if generation != self._generation:
                return blob  # answer this request, but do not remember a possibly stale row
            self._known[(sha256, filename)] = blob
            while len(self._known) > self.max_entries:
                self._known.popitem(last=False)
        return blob

    # -- HTTP ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await send_plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        # /packages/aa/bb/<rest of sha256>/<filename>
        parts = scope["path"].split("/")
        if len(parts) != 6 or len(parts[2]) != 2 or len(parts[3]) != 2 or not parts[5]:
            await send_plain(send, 404, b"Not Found")
            return
        sha256 = parts[2] + parts[3] + parts[4]
        filename = parts[5]
        if not _HEX.fullmatch(sha256):
            await send_plain(send, 404, b"Not Found")
            return
        blob: str | UpstreamBlob | None = self._known.get((sha256, filename))
        if blob is None:
            blob = await anyio.to_thread.run_sync(self._lookup, sha256, filename)
        if blob is None:
            await send_plain(send, 404, b"Not Found")
            return
        if isinstance(blob, UpstreamBlob):
            await self._send_upstream(scope, send, blob, filename, method == "HEAD")
            return
        await self._send_blob(scope, send, blob, filename, method == "HEAD")

    async def _send_upstream(
        self, scope: Scope, send: Send, blob: UpstreamBlob, filename: str, head_only: bool
    ) -> None:
        """An upstream file not cached yet: streamed while it is fetched and stored."""
        etag = f'"{blob.sha256}"'.encode()
        req: dict[bytes, bytes] = {k: v for k, v in scope["headers"] if k in _WANTED}
        if self.fetcher is None:
            await send_plain(send, 404, b"Not Found")
            return
        if b"if-none-match" in req and etag_matches(req[b"if-none-match"], etag):
            await self._send_blob(scope, send, blob.sha256, filename, head_only)  # a 304
            return
        if b"range" in req and not head_only:
            # A range is served from storage: fetch the whole file first (shared with any
            # other request for it), then answer like for any cached file.
            try:
                await self.fetcher.ensure(blob)
            except UpstreamFailed as exc:
                await _bad_gateway(send, exc)
                return
            await self._send_blob(scope, send, blob.sha256, filename, head_only)
            return
        # No "Accept-Ranges" until it is cached: a client that reads a wheel by ranges (uv
        # without PEP 658 metadata) then downloads it whole, streamed, instead of waiting for
        # the whole file to be fetched before its first range.
        headers = [
            (b"etag", etag),
            (b"cache-control", _IMMUTABLE),
            (b"content-type", media_type(filename)),
        ]
        if blob.size is not None:
            headers.append((b"content-length", str(blob.size).encode()))
        if head_only:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        chunks = self.fetcher.stream(blob)
        try:
            try:
                # Nothing is sent before the first bytes: an upstream that fails at once gets
                # a clean 502. A failure later raises, and the client's transfer breaks off.
                first = await anext(chunks, b"")
            except UpstreamFailed as exc:
                await _bad_gateway(send, exc)
                return
            if self.on_download is not None:
                self.on_download(blob.sha256, filename)
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": first, "more_body": True})
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await chunks.aclose()  # a client gone half-way: its reader stops, the fetch goes on

    async def _send_blob(
        self, scope: Scope, send: Send, blob: str, filename: str, head_only: bool
    ) -> None:
        key = blob_key(blob)
        etag = f'"{blob}"'.encode()
        req: dict[bytes, bytes] = {k: v for k, v in scope["headers"] if k in _WANTED}
        headers = [
            (b"etag", etag),
            (b"cache-control", _IMMUTABLE),
            (b"accept-ranges", b"bytes"),
        ]
        if b"if-none-match" in req and etag_matches(req[b"if-none-match"], etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        local = self.storage.local_path(key)
        try:
            size = os.stat(local).st_size if local is not None else self.storage.size(key)
        except (FileNotFoundError, BlobNotFound):
            await send_plain(send, 404, b"Not Found")
            return
        try:
            span = parse_range(
                _text(req.get(b"range")), size, _text(req.get(b"if-range")), etag.decode()
            )
        except RangeNotSatisfiable:
            await send_plain(
                send,
                416,
                b"Range Not Satisfiable",
                [(b"content-range", f"bytes */{size}".encode())],
            )
            return
        start, end, status = 0, size, 200
        if span is not None:
            start, end = span
            status = 206
            headers.append((b"content-range", f"bytes {start}-{end - 1}/{size}".encode()))
        headers.append((b"content-type", media_type(filename)))
        headers.append((b"content-length", str(end - start).encode()))
        if status == 200 and not head_only and self.on_download is not None:
            self.on_download(blob, filename)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if head_only or end == start:
            await send({"type": "http.response.body", "body": b""})
            return
        if local is not None and end - start <= _ONE_SHOT:
            body = await anyio.to_thread.run_sync(_read_span, str(local), start, end)
            await send({"type": "http.response.body", "body": body})
            return
        chunks = self._chunks(key, str(local) if local else None, start, end)
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def _chunks(self, key: str, local: str | None, start: int, end: int) -> Iterator[bytes]:
        if local is None:
            yield from self.storage.iter_range(key, start, end, chunk_size=_CHUNK)
            return
        with open(local, "rb") as fh:
            fh.seek(start)
            remaining = end - start
            while remaining > 0:
                data = fh.read(min(_CHUNK, remaining))
                if not data:
                    return
                remaining -= len(data)
                yield data


_WANTED = frozenset({b"range", b"if-range", b"if-none-match"})


def _upstream_blob(row: Any, blob: str, want_metadata: bool) -> UpstreamBlob | None:
    """The upstream file to fetch for a looked-up row with a mirror file, None if cached."""
    auth = file_auth(row.url, row.upstream_url, row.files_url, row.username, row.password)
    if want_metadata:
        # Metadata read from the cached wheel is stored before it is announced; only
        # upstream's own sidecar, with its hash, is fetched.
        if row.metadata_cached or row.core_metadata_sha256 != blob:
            return None
        return UpstreamBlob(
            row.url + ".metadata", blob, None, auth, blob_key(blob), _METADATA_LIMIT
        )
    if row.cached:
        return None
    size = row.upstream_size if row.upstream_size is not None else (row.size or None)
    return UpstreamBlob(row.url, blob, size, auth, blob_key(blob))


async def _bad_gateway(send: Send, exc: UpstreamFailed) -> None:
    await send_plain(send, 502, f"Bad Gateway: {exc}".encode())


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


def _read_span(path: str, start: int, end: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read(end - start)
