"""Policy views (``/views/<view>/simple/…`` and ``/views/<view>/packages/…``) as a bare ASGI
application, like the simple API.

A view's pages are rendered on first request after a change and served from the worker's
memory (:class:`stockade.mirror.views.ViewPages`), each with the names of the files the view
lets through. A name the mirror serves is resolved from upstream first, as ``/simple/`` does.
Files (``/views/<view>/packages/…``, where the pages' relative links lead) are the index's own,
served by the files app, but only those on the view's page of their project: a file the view
leaves out answers 404 there, so a client cannot step around the view by writing a URL. The
check is two dictionary reads once the page is rendered. The JSON API under a view
(``/views/<view>/pypi/…``) is a FastAPI route (:mod:`stockade.web.index.json_api`).
"""

from __future__ import annotations

from urllib.parse import quote

import anyio

from stockade.index.cache import CachedPage
from stockade.mirror.views import UNCHECKED, Policy, ViewPage, ViewPages
from stockade.web.index.files import FilesApp
from stockade.web.index.simple import (
    STALE_HEADERS,
    Receive,
    Scope,
    Send,
    SimpleApp,
    project_name,
    send_plain,
)

__all__ = ["ViewsApp", "is_view_api"]

_UNCHECKED_HEADER = (b"x-stockade-view-warning", UNCHECKED.encode())


def is_view_api(path: str) -> bool:
    """Whether ``path`` is under ``/views/<view>/pypi/`` (the JSON API, served by FastAPI)."""
    parts = path.split("/", 4)
    return len(parts) > 4 and parts[1] == "views" and parts[3] == "pypi"


class ViewsApp:
    """Serves ``/views/<view>/simple/`` and its project pages, and the files they list."""

    def __init__(self, views: ViewPages, simple: SimpleApp, files: FilesApp) -> None:
        self.views = views
        # The simple app's way of sending a page (ETags, 304s, negotiation) and of asking
        # the mirror about a name.
        self.simple = simple
        self.files = files

    async def _policy(self, view: str) -> Policy | None:
        known = self.views.known_policy(view)
        if known is False:
            return await anyio.to_thread.run_sync(self.views.policy, view)
        return known if isinstance(known, Policy) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        view, _, rest = path[len("/views/") :].partition("/")
        if scope["method"] not in ("GET", "HEAD"):
            await send_plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        if rest.startswith("integrity/"):
            # Pages link provenance relative to themselves (when base_url is not set): it is
            # the index's own, whatever the view.
            location = scope.get("root_path", "") + "/" + quote(rest)
            await send_plain(send, 307, b"", [(b"location", location.encode("latin-1"))])
            return
        if not rest.startswith(("simple/", "packages/")):
            await send_plain(send, 404, b"Not Found")
            return
        policy = await self._policy(view)
        if policy is None:
            await send_plain(send, 404, b"Not Found: no such view")
            return
        if rest.startswith("packages/"):
            await self._file(scope, receive, send, policy, rest)
            return
        rest = rest[len("simple/") :]
        head = scope["method"] == "HEAD"
        extra = [_UNCHECKED_HEADER] if self._unchecked(policy) else []
        if rest == "":
            root = await anyio.to_thread.run_sync(self.views.root, policy)
            await self.simple.send_page(scope, send, root, head, extra)
            return
        root_path = scope.get("root_path", "")
        normalized = await project_name(
            scope, send, rest, f"{root_path}/views/{quote(view)}/simple/"
        )
        if normalized is None:
            return
        hit = await self._page(send, policy, normalized, extra)
        if hit is None:
            return
        if not isinstance(hit.page, CachedPage):
            await send_plain(send, 404, b"Not Found")
            return
        await self.simple.send_page(scope, send, hit.page, head, extra)

    def _unchecked(self, policy: Policy) -> bool:
        return policy.no_known_vulns and not self.views.advisories_imported

    async def _page(
        self, send: Send, policy: Policy, normalized: str, extra: list[tuple[bytes, bytes]]
    ) -> ViewPage | None:
        """The view's page of ``normalized``, the name resolved through the mirror first when
        one is configured; None when a 503 was sent. Adds the stale headers to ``extra``."""
        hit = self.views.peek(policy.name, normalized)
        if self.simple.mirror is not None:
            outcome = await self.simple.follow_upstream(
                send, normalized, hit.page if hit is not None else False
            )
            if outcome is None:
                return None
            resolved, _, stale = outcome
            if resolved:
                hit = None  # the project may have changed: render the view's page again
            if stale:
                extra.extend(STALE_HEADERS)
        if hit is None:
            hit = await anyio.to_thread.run_sync(self.views.load, policy, normalized)
        return hit

    async def _file(
        self, scope: Scope, receive: Receive, send: Send, policy: Policy, rest: str
    ) -> None:
        """A file (or its metadata), only when it is on the view's page of its project."""
        filename = rest.rpartition("/")[2]
        dist = filename.removesuffix(".metadata")
        project = self.views.known_project_of(dist)
        if project is None and dist:
            project = await anyio.to_thread.run_sync(self.views.project_of, dist)
        if project is None:
            await send_plain(send, 404, b"Not Found")
            return
        hit = self.views.peek(policy.name, project)
        if hit is None:
            hit = await anyio.to_thread.run_sync(self.views.load, policy, project)
        if dist not in hit.allowed:
            await send_plain(send, 404, b"Not Found: not in this view")
            return
        inner = dict(scope)
        inner["path"] = "/" + rest
        inner["raw_path"] = inner["path"].encode()
        await self.files(inner, receive, send)
