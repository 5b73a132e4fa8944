"""``/tuf/<version>.<role>.json``, ``/tuf/timestamp.json`` and the page targets
(``/simple/<project>/index.html``, ``index.json``) as a bare ASGI app.

Metadata are files: stored bytes, sent as they are, with headers a CDN can cache by. Versioned
files never change (cached here and by a CDN for good); ``timestamp.json`` and the pages are
read once per request (one primary-key lookup), never rendered. The simple API's own paths
(``/simple/<project>/``) do not come here and do no more work than before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import anyio
from sqlalchemy.orm import Session

from stockade.db import Database
from stockade.tuf.reads import metadata_file, signed_page
from stockade.web.index.simple import Receive, Scope, Send, send_plain

__all__ = ["TufApp", "is_page_target"]

_IMMUTABLE = b"public, max-age=31536000, immutable"
_FRESH = b"public, max-age=1"
_JSON = b"application/json"
_PAGE_TYPES = {
    "index.html": b"text/html; charset=utf-8",
    "index.json": b"application/vnd.pypi.simple.v1+json",
}
_CACHED_FILES = 4096


def is_page_target(path: str) -> bool:
    """Whether ``path`` names a page target (``/simple/<project>/index.html`` or ``.json``)."""
    return path.startswith("/simple/") and path.endswith(("/index.html", "/index.json"))


class TufApp:
    """Serves the metadata and the page targets."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._versioned: OrderedDict[str, bytes] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        path: str = scope["path"]
        if is_page_target(path):
            body = await anyio.to_thread.run_sync(self._read, signed_page, path[1:])
            kind = _PAGE_TYPES[path.rsplit("/", 1)[1]]
            await self._send(scope, send, body, kind, _FRESH)
            return
        name = path.removeprefix("/tuf/")
        if name == "timestamp.json":
            body = await anyio.to_thread.run_sync(self._read, metadata_file, name)
            await self._send(scope, send, body, _JSON, _FRESH)
            return
        body = self._versioned.get(name)
        if body is None:
            body = await anyio.to_thread.run_sync(self._read, metadata_file, name)
            if body is not None:
                self._versioned[name] = body
                if len(self._versioned) > _CACHED_FILES:
                    self._versioned.popitem(last=False)
        await self._send(scope, send, body, _JSON, _IMMUTABLE)

    def _read(self, reader: Callable[[Session, str], bytes | None], key: str) -> bytes | None:
        with self.db.read() as session:
            return reader(session, key)

    async def _send(
        self, scope: Scope, send: Send, body: bytes | None, kind: bytes, cache: bytes
    ) -> None:
        if body is None:
            await send_plain(send, 404, b"Not Found")
            return
        headers = [
            (b"content-type", kind),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", cache),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
