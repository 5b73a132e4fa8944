"""Policy views (``/views/<view>/simple/…``) as a bare ASGI application, like the simple API.

A view's pages are rendered on first request after a change and served from the worker's
memory (:class:`stockade.mirror.views.ViewPages`); files (``/views/<view>/packages/…``, where
the pages' relative links lead) are the index's own, served by the files app.
"""

from __future__ import annotations

from urllib.parse import quote

import anyio

from stockade.index.cache import CachedPage
from stockade.mirror.views import ViewPages
from stockade.web.index.files import FilesApp
from stockade.web.index.simple import (
    Receive,
    Scope,
    Send,
    SimpleApp,
    project_name,
    send_plain,
)

__all__ = ["ViewsApp"]


class ViewsApp:
    """Serves ``/views/<view>/simple/`` and its project pages; hands files to the files app."""

    def __init__(self, views: ViewPages, simple: SimpleApp, files: FilesApp) -> None:
        self.views = views
        # The simple app's way of sending a page (ETags, 304s, negotiation).
        self.simple = simple
        self.files = files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        view, _, rest = path[len("/views/") :].partition("/")
        if rest.startswith("packages/"):
            inner = dict(scope)
            inner["path"] = "/" + rest
            inner["raw_path"] = inner["path"].encode()
            await self.files(inner, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await send_plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        if not rest.startswith("simple/"):
            await send_plain(send, 404, b"Not Found")
            return
        policy = await anyio.to_thread.run_sync(self.views.policy, view)
        if policy is None:
            await send_plain(send, 404, b"Not Found: no such view")
            return
        rest = rest[len("simple/") :]
        head = scope["method"] == "HEAD"
        if rest == "":
            root = await anyio.to_thread.run_sync(self.views.root, policy)
            await self.simple._send_page(scope, send, root, head)
            return
        root_path = scope.get("root_path", "")
        normalized = await project_name(
            scope, send, rest, f"{root_path}/views/{quote(view)}/simple/"
        )
        if normalized is None:
            return
        page = self.views.peek(view, normalized)
        if page is False:
            page = await anyio.to_thread.run_sync(self.views.load, policy, normalized)
        if not isinstance(page, CachedPage):
            await send_plain(send, 404, b"Not Found")
            return
        await self.simple._send_page(scope, send, page, head)
