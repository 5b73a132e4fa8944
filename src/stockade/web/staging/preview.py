"""The preview of a staged release at ``/upload/stage/<session token>/``: ``simple/`` is an
index (the staged project's page shows its published and staged files; any other name is sent
to the public ``/simple/`` page), and ``packages/`` serves the staged files, sending published
ones to the public ``/packages/``. Installers use it as an index URL as it is. Like
``/simple/``, the pages answer PEP 691 JSON to a client that asks for it (``Accept`` or
``?format=``), HTML otherwise."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from packaging.utils import canonicalize_name
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from stockade.index.paths import blob_key
from stockade.index.render import (
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
)
from stockade.staging.preview import preview
from stockade.storage import BlobNotFound
from stockade.web.context import Ctx
from stockade.web.index.files import media_type
from stockade.web.index.negotiate import negotiate

__all__ = ["router"]

router = APIRouter()

_GONE = "Not Found: no such open publishing session."


def _page(request: Request, html: Callable[[], bytes], json: Callable[[], bytes]) -> Response:
    """The page in the representation the client asked for (PEP 691), never cached: it
    changes with every file staged and goes with the session."""
    form, content_type = negotiate(
        request.headers.get("accept"), request.query_params.get("format")
    )
    body = json() if form == "json" else html()
    headers = {"Cache-Control": "no-store", "Vary": "Accept"}
    return Response(body, headers=headers, media_type=content_type)


@router.get("/upload/stage/{session_token}/simple/", include_in_schema=False)
async def root(session_token: str, request: Request, ctx: Ctx) -> Response:
    """The preview's root: the staged project."""
    seen = await run_in_threadpool(preview, ctx.db, session_token)
    if seen is None:
        return PlainTextResponse(_GONE, 404)
    state = seen.state
    names = [(state.name, state.normalized_name)]
    return _page(
        request,
        lambda: render_root_html(names),
        lambda: render_root_json(names, state.serial, {state.normalized_name: state.serial}),
    )


@router.get("/upload/stage/{session_token}/simple/{name}/", include_in_schema=False)
async def project(session_token: str, name: str, request: Request, ctx: Ctx) -> Response:
    """The staged project's page with the staged files; any other project's public page."""
    seen = await run_in_threadpool(preview, ctx.db, session_token)
    if seen is None:
        return PlainTextResponse(_GONE, 404)
    normalized = canonicalize_name(name)
    if normalized != seen.state.normalized_name:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/simple/{quote(normalized)}/")
    return _page(
        request,
        lambda: render_project_html(seen.state),
        lambda: render_project_json(seen.state),
    )


@router.get(
    "/upload/stage/{session_token}/packages/{a}/{b}/{rest}/{filename}", include_in_schema=False
)
async def package(
    session_token: str, a: str, b: str, rest: str, filename: str, request: Request, ctx: Ctx
) -> Response:
    """A staged file (or its metadata sidecar); a published one is the public file."""
    seen = await run_in_threadpool(preview, ctx.db, session_token)
    if seen is None:
        return PlainTextResponse(_GONE, 404)
    dist = filename.removesuffix(".metadata")
    staged = seen.staged.get(dist)
    if staged is None or staged[0] != a + b + rest:
        path = f"/packages/{quote(a)}/{quote(b)}/{quote(rest)}/{quote(filename)}"
        return RedirectResponse(f"{request.scope.get('root_path', '')}{path}")
    digest = staged[1] if filename.endswith(".metadata") else staged[0]
    if digest is None:
        return PlainTextResponse("Not Found", 404)
    try:
        chunks = await run_in_threadpool(ctx.storage.iter_range, blob_key(digest))
    except BlobNotFound:
        return PlainTextResponse("Not Found", 404)
    return StreamingResponse(chunks, media_type=media_type(filename).decode())
