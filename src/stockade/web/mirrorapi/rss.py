"""PyPI's RSS 2.0 feeds: ``/rss/updates.xml`` (the newest releases), ``/rss/packages.xml``
(the newest projects) and ``/rss/project/<name>/releases.xml`` (one project's releases).

Each feed is one or two indexed queries (:mod:`stockade.index.feeds`), built with ElementTree
so every value is escaped, and cacheable for five minutes as on PyPI.
"""

from __future__ import annotations

import email.utils
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from packaging.utils import canonicalize_name
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from stockade.index import feeds
from stockade.web.context import AppContext, Ctx

__all__ = ["router"]

router = APIRouter()

_HEADERS = {"cache-control": "max-age=300, public"}
_ATOM = "http://www.w3.org/2005/Atom"

T = TypeVar("T")


async def _read(ctx: AppContext, query: Callable[[Session], T]) -> T:
    """``query`` in a read transaction, in a worker thread."""

    def run() -> T:
        with ctx.db.read() as session:
            return query(session)

    return await run_in_threadpool(run)


def _author(value: str | None) -> str | None:
    """RSS wants one e-mail address: the address of a single ``Name <addr>`` or ``addr``."""
    if not value or "," in value:
        return None
    _, addr = email.utils.parseaddr(value)
    return addr if "@" in addr else None


def _release_link(base: str, item: feeds.FeedItem) -> str:
    return f"{base}/project/{quote(item.normalized_name)}/{quote(item.version)}/"


def _project_link(base: str, normalized_name: str) -> str:
    return f"{base}/project/{quote(normalized_name)}/"


def _feed(
    title: str,
    link: str,
    description: str,
    self_url: str,
    items: list[tuple[str, str, feeds.FeedItem]],
) -> Response:
    """An RSS 2.0 document: ``items`` are (title, link, item)."""
    ET.register_namespace("atom", _ATOM)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = title
    ET.SubElement(channel, "link").text = link
    ET.SubElement(channel, "description").text = description
    ET.SubElement(channel, "language").text = "en"
    ET.SubElement(
        channel,
        f"{{{_ATOM}}}link",
        {"href": self_url, "rel": "self", "type": "application/rss+xml"},
    )
    for item_title, item_link, item in items:
        entry = ET.SubElement(channel, "item")
        ET.SubElement(entry, "title").text = item_title
        ET.SubElement(entry, "link").text = item_link
        ET.SubElement(entry, "guid").text = item_link
        if item.summary:
            ET.SubElement(entry, "description").text = item.summary
        author = _author(item.author_email)
        if author:
            ET.SubElement(entry, "author").text = author
        ET.SubElement(entry, "pubDate").text = email.utils.format_datetime(
            item.published, usegmt=True
        )
    body = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="text/xml; charset=utf-8", headers=_HEADERS)


@router.api_route("/rss/updates.xml", methods=["GET", "HEAD"], include_in_schema=False)
async def updates(request: Request, ctx: Ctx) -> Response:
    """The newest releases of every project."""
    base = ctx.base_url(request)
    items = await _read(ctx, feeds.recent_releases)
    return _feed(
        f"{ctx.settings.site_name} recent updates",
        f"{base}/",
        f"Recent updates to {ctx.settings.site_name}",
        f"{base}/rss/updates.xml",
        [(f"{i.name} {i.version}", _release_link(base, i), i) for i in items],
    )


@router.api_route("/rss/packages.xml", methods=["GET", "HEAD"], include_in_schema=False)
async def packages(request: Request, ctx: Ctx) -> Response:
    """The newest projects."""
    base = ctx.base_url(request)
    site = ctx.settings.site_name
    items = await _read(ctx, feeds.newest_projects)
    return _feed(
        f"{site} newest packages",
        f"{base}/",
        f"Newest packages registered at {site}",
        f"{base}/rss/packages.xml",
        [(f"{i.name} added to {site}", _project_link(base, i.normalized_name), i) for i in items],
    )


@router.api_route(
    "/rss/project/{name}/releases.xml", methods=["GET", "HEAD"], include_in_schema=False
)
async def project_releases(name: str, request: Request, ctx: Ctx) -> Response:
    """One project's newest releases; 301 to the normalized name, 404 for no such project."""
    normalized = canonicalize_name(name)
    if name != normalized:
        return RedirectResponse(f"/rss/project/{quote(normalized)}/releases.xml", 301)
    base = ctx.base_url(request)
    found = await _read(ctx, lambda session: feeds.project_feed(session, normalized))
    if found is None:
        return PlainTextResponse("No such project.\n", status_code=404)
    display, items = found
    site = ctx.settings.site_name
    return _feed(
        f"{site} recent updates for {display}",
        _project_link(base, normalized),
        f"Recent updates to {site} for {display}",
        f"{base}/rss/project/{quote(normalized)}/releases.xml",
        [(i.version, _release_link(base, i), i) for i in items],
    )
