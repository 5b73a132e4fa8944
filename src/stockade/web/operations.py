"""What an operator's tools ask: health (``/_health/live``, ``/_health/ready``, and the older
``/_health/``) and Prometheus metrics (``/metrics``), and the route groups requests are counted
by."""

from __future__ import annotations

import logging
import os

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from stockade.metrics import exposition
from stockade.storage import LocalStorage
from stockade.web.context import AppContext, Ctx

__all__ = ["route_group", "router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

# The first matching prefix names a request's group (a bounded label, never the path).
_GROUPS = (
    ("/simple/", "simple"),
    ("/packages/", "files"),
    ("/legacy", "upload"),
    ("/pypi/", "json-api"),
    ("/pypi", "xmlrpc"),
    ("/rss/", "rss"),
    ("/integrity/", "provenance"),
    ("/_/oidc/", "oidc"),
    ("/_health/", "health"),
    ("/metrics", "metrics"),
    ("/account/", "accounts"),
    ("/manage/", "manage"),
    ("/admin/", "admin"),
    ("/stats/", "stats"),
    ("/project/", "pages"),
    ("/static/", "static"),
)


def route_group(path: str) -> str:
    """The metrics group of a request path."""
    for prefix, group in _GROUPS:
        if path.startswith(prefix):
            return group
    return "other"


def _unready(ctx: AppContext) -> str | None:
    """What is down (a sentence), or None when the database and the blob store both answer."""
    try:
        ctx.db.ping()
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", exc)
        return "the database is unreachable"
    try:
        storage = ctx.storage
        if isinstance(storage, LocalStorage) and not os.access(storage.root, os.W_OK | os.X_OK):
            return "the blob store is unreachable"
        storage.exists("health/probe")
    except Exception as exc:
        log.warning("readiness: blob store unreachable: %s", exc)
        return "the blob store is unreachable"
    return None


@router.get("/_health/live")
def live() -> Response:
    """The process answers (no dependency is asked)."""
    return PlainTextResponse("OK\n")


@router.get("/_health/ready")
@router.get("/_health/")
async def ready(ctx: Ctx) -> Response:
    """The database and the blob store both answer: 200, else 503 naming what is down."""
    problem = await run_in_threadpool(_unready, ctx)
    if problem is not None:
        return PlainTextResponse(f"{problem}\n", status_code=503)
    return PlainTextResponse("OK\n")


@router.get("/metrics")
async def metrics() -> Response:
    """Every counter in Prometheus' text format, summed over the workers."""
    body, content_type = await run_in_threadpool(exposition)
    return Response(body, media_type=content_type)
