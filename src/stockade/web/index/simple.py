"""The simple API (``/simple/`` and ``/simple/<project>/``) as a bare ASGI application.

This is the hot read path, so it skips the web framework: the page comes from the worker's
:class:`~stockade.index.cache.PageCache` and is sent as stored bytes. Only a cache miss
touches the database, in a worker thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast
from urllib.parse import parse_qs, quote

import anyio
from packaging.utils import canonicalize_name

from stockade.index.cache import CachedPage, PageCache
from stockade.metrics import TALLY
from stockade.mirror.pages import STALE, MirrorPages
from stockade.web.index.negotiate import negotiate

__all__ = [
    "STALE_HEADERS",
    "Receive",
    "Scope",
    "Send",
    "SimpleApp",
    "etag_matches",
    "project_name",
    "send_plain",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class SimpleApp:
    """Serves PEP 503/691 pages with ETags, 304s, ``Vary: Accept`` and serial headers."""

    def __init__(
        self, cache: PageCache, *, max_age: int, mirror: MirrorPages | None = None
    ) -> None:
        self.cache = cache
        self.cache_control = f"max-age={max_age}, public".encode()
        # Upstream indexes behind this one (None: a purely local index).
        self.mirror = mirror

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await send_plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        path: str = scope["path"]
        root_path = scope.get("root_path", "")
        if path == "/simple":
            # As on PyPI: the root without its slash (bandersnatch asks for it) is redirected.
            location = f"{root_path}/simple/"
            if scope.get("query_string"):
                location += "?" + scope["query_string"].decode("latin-1")
            await send_plain(send, 301, b"", [(b"location", location.encode("latin-1"))])
            return
        rest = path[len("/simple/") :]
        if rest == "":
            if self.mirror is not None:
                self.mirror.check_root()
            root = self.cache.cached_root()
            if root is None:
                TALLY.page_cache("miss")
                root = await anyio.to_thread.run_sync(self.cache.root)
            else:
                TALLY.page_cache("hit")
            await self.send_page(scope, send, root, method == "HEAD")
            return
        normalized = await project_name(scope, send, rest, f"{root_path}/simple/")
        if normalized is None:
            return
        cached = self.cache.peek(normalized)
        TALLY.page_cache("miss" if cached is False else "hit")
        stale: str | None = None
        if self.mirror is not None:
            outcome = await self.follow_upstream(send, normalized, cached)
            if outcome is None:
                return
            _, cached, stale = outcome
        elif cached is False:
            cached = await anyio.to_thread.run_sync(self.cache.load, normalized)
        if not isinstance(cached, CachedPage):
            await send_plain(send, 404, b"Not Found")
            return
        await self.send_page(
            scope, send, cached, method == "HEAD", STALE_HEADERS if stale else None
        )

    async def follow_upstream(
        self, send: Send, normalized: str, cached: CachedPage | bool | None
    ) -> tuple[bool, CachedPage | bool | None, str | None] | None:
        """What the mirror says of a cached answer (``cached``; False on a miss): (whether the
        name was resolved now, the page to serve, why it is stale). A stale page is served
        while it is refreshed behind it; a miss, or an expired "no such project", is resolved
        now, from upstream if need be. None when upstream is unavailable with nothing to
        serve: a 503 was sent."""
        assert self.mirror is not None
        stale: str | None = None
        if cached is not False:
            verdict, stale = self.mirror.peek(normalized)
            if verdict != STALE:
                return False, cached, stale
            if isinstance(cached, CachedPage):
                # Served as it is; the refreshed page replaces it for later requests.
                self.mirror.refresh_in_background(normalized)
                return False, cached, stale
            # "No such project" has expired: ask again.
        resolved = await anyio.to_thread.run_sync(self.mirror.resolve, normalized)
        if resolved.unavailable is not None:
            await send_plain(
                send,
                503,
                b"Upstream index unavailable, and nothing cached for this project.",
                [(b"retry-after", b"15")],
            )
            return None
        return True, resolved.page, resolved.stale_error

    async def send_page(
        self,
        scope: Scope,
        send: Send,
        page: CachedPage,
        head_only: bool,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        accept = None
        if_none_match = None
        for key, value in scope["headers"]:
            if key == b"accept":
                accept = value.decode("latin-1")
            elif key == b"if-none-match":
                if_none_match = value
        fmt = None
        if scope.get("query_string"):
            fmt = parse_qs(scope["query_string"].decode("latin-1")).get("format", [None])[0]
            # An unescaped '+' in a media type arrives as a space; media types have none.
            fmt = fmt.replace(" ", "+") if fmt else None
        form, content_type = negotiate(accept, fmt)
        answer = page.answers.get(content_type)
        if answer is None:
            answer = page.answers[content_type] = self._answer(page, form, content_type)
        body, etag, headers, headers_200 = cast(_Answer, answer)
        if extra:
            headers = [*headers, *extra]
            headers_200 = [*headers_200, *extra]
        if if_none_match is not None and etag_matches(if_none_match, etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers_200})
        await send({"type": "http.response.body", "body": b"" if head_only else body})

    def _answer(self, page: CachedPage, form: str, content_type: str) -> _Answer:
        """The body, ETag and headers (of a 304, of a 200) of one form of ``page``."""
        if form == "json":
            body, tag = page.json, page.json_etag
        else:
            body, tag = page.html, page.html_etag
        # The Content-Type is part of the representation, so it is part of the tag.
        etag = f'"{tag}-{_TYPE_SUFFIX.get(content_type, "x")}"'.encode()
        headers = [
            (b"etag", etag),
            (b"vary", b"Accept"),
            (b"cache-control", self.cache_control),
            (b"x-pypi-last-serial", str(page.serial).encode()),
        ]
        headers_200 = [
            *headers,
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        return body, etag, headers, headers_200


# A page's answer in one form: body, ETag, the headers of a 304 and of a 200 (shared: the
# server only reads them).
_Answer = tuple[bytes, bytes, list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]


# A mirrored page served while its upstream fails (stale-if-error).
STALE_HEADERS = [
    (b"x-stockade-stale", b"upstream unavailable; serving the last page fetched"),
    (b"warning", b'111 stockade "Revalidation Failed"'),
]

_TYPE_SUFFIX = {
    "application/vnd.pypi.simple.v1+json": "j",
    "application/vnd.pypi.simple.v1+html": "v",
    "text/html; charset=utf-8": "h",
}


async def project_name(scope: Scope, send: Send, rest: str, prefix: str) -> str | None:
    """The normalized project name of ``<prefix><rest>``; None when the answer was sent
    already: 404 for a path that is not a project page, 301 to the normalized spelling."""
    name, slash, extra = rest.partition("/")
    normalized = canonicalize_name(name)
    if extra or not name:
        await send_plain(send, 404, b"Not Found")
        return None
    if name != normalized or not slash:
        location = f"{prefix}{quote(normalized)}/"
        if scope.get("query_string"):
            location += "?" + scope["query_string"].decode("latin-1")
        await send_plain(send, 301, b"", [(b"location", location.encode("latin-1"))])
        return None
    return normalized


def etag_matches(header: bytes, etag: bytes) -> bool:
    if header.strip() == b"*":
        return True
    for candidate in header.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


async def send_plain(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
