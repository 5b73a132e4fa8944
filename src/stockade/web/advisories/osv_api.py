"""The OSV API, as api.osv.dev answers it, for the PyPI ecosystem: ``POST /v1/query``,
``POST /v1/querybatch`` and ``GET /v1/vulns/<id>``.

``pip-audit -s osv --osv-url <index>/v1/query`` audits against this index's advisories. Errors
have OSV's shape: ``{"code": 3, "message": "Invalid query."}`` with status 400 (5 and 404 for
an unknown id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import anyio
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from stockade.advisories.osv import ECOSYSTEM
from stockade.advisories.queries import (
    Known,
    documents,
    find_advisory,
    format_timestamp,
    matches_for_many,
    package_advisories,
)
from stockade.web.context import Ctx
from stockade.web.jsonbody import BodyError, read_json

__all__ = ["MAX_BATCH", "OsvQuery", "parse_query", "router"]

router = APIRouter()

# api.osv.dev's limit on one batch.
MAX_BATCH = 1000
# A query is a name and a version: 1,000 of them fit in far less.
MAX_BODY = 2 * 1024 * 1024
_INVALID_ARGUMENT, _NOT_FOUND = 3, 5


class QueryError(ValueError):
    """A request OSV would refuse: its status, gRPC code and one-line message."""

    def __init__(self, message: str, status: int = 400, code: int = _INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


def _error(exc: QueryError) -> Response:
    return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.status)


@dataclass(frozen=True)
class OsvQuery:
    """One query: a PyPI package and, optionally, a version. ``name`` None: another
    ecosystem, which this index has no advisories for."""

    name: str | None
    version: str | None


def _purl(text: str) -> tuple[str | None, str | None]:
    """(name, version) of a ``pkg:pypi/name@version`` package URL; (None, None) for another
    package type."""
    if not text.startswith("pkg:") or "/" not in text:
        raise QueryError("Invalid Package URL.")
    body = text[4:].split("#", 1)[0].split("?", 1)[0]
    kind, _, rest = body.partition("/")
    if kind.lower() != "pypi":
        return None, None
    name, _, version = rest.rpartition("@") if "@" in rest else (rest, "", "")
    name, version = unquote(name.strip("/")), unquote(version)
    if not name or "/" in name:
        raise QueryError("Invalid Package URL.")
    return name, version or None


def parse_query(raw: Any) -> OsvQuery:
    """One OSV query object, checked as OSV checks it. Raises QueryError."""
    if not isinstance(raw, dict):
        raise QueryError("Invalid query.")
    if raw.get("commit"):
        raise QueryError("Commit queries are not supported: this index has PyPI advisories.")
    package = raw.get("package") or {}
    version = raw.get("version")
    if not isinstance(package, dict) or (version is not None and not isinstance(version, str)):
        raise QueryError("Invalid query.")
    name, ecosystem, purl = package.get("name"), package.get("ecosystem"), package.get("purl")
    if not all(v is None or isinstance(v, str) for v in (name, ecosystem, purl)):
        raise QueryError("Invalid query.")
    if purl:
        purl_name, purl_version = _purl(purl)
        if purl_name is None:
            return OsvQuery(None, None)
        return OsvQuery(purl_name, purl_version or version or None)
    if not name:
        raise QueryError("Invalid query.")
    if ecosystem and ecosystem != ECOSYSTEM:
        return OsvQuery(None, None)
    return OsvQuery(name, version or None)


async def _body(request: Request) -> Any:
    try:
        return await read_json(request, MAX_BODY)
    except BodyError as exc:
        message = (
            "Request body too large." if exc.status == 413 else "Invalid JSON payload received."
        )
        raise QueryError(message, status=exc.status) from None


def _answer(ctx: Ctx, queries: list[OsvQuery], *, details: bool) -> list[list[dict[str, Any]]]:
    """Each query's advisories: whole documents, or ids and ``modified`` only."""
    found: list[list[Known]] = [[] for _ in queries]
    with ctx.db.read() as session:
        versioned = [(i, q) for i, q in enumerate(queries) if q.name and q.version]
        matched = matches_for_many(session, [(q.name or "", q.version or "") for _, q in versioned])
        for (i, _), matches in zip(versioned, matched, strict=True):
            found[i] = [m.advisory for m in matches]
        for i, q in enumerate(queries):
            if q.name and not q.version:
                found[i] = package_advisories(session, q.name)
        if details:
            docs = documents(session, (a.id for known in found for a in known))
            return [[docs[a.id] for a in known] for known in found]
    return [
        [{"id": a.osv_id, "modified": format_timestamp(a.modified)} for a in known]
        for known in found
    ]


@router.post("/v1/query", include_in_schema=False)
async def query(request: Request, ctx: Ctx) -> Response:
    """The advisories affecting one package version (or every one of a package)."""
    try:
        one = parse_query(await _body(request))
    except QueryError as exc:
        return _error(exc)
    [vulns] = await anyio.to_thread.run_sync(lambda: _answer(ctx, [one], details=True))
    return JSONResponse({"vulns": vulns} if vulns else {})


@router.post("/v1/querybatch", include_in_schema=False)
async def querybatch(request: Request, ctx: Ctx) -> Response:
    """Up to 1,000 queries at once; each answer carries ids and ``modified`` only."""
    try:
        body = await _body(request)
        raw = body.get("queries") if isinstance(body, dict) else None
        if not isinstance(raw, list):
            raise QueryError("Invalid query.")
        if len(raw) > MAX_BATCH:
            raise QueryError("Too many queries.")
        queries = [parse_query(q) for q in raw]
    except QueryError as exc:
        return _error(exc)
    answers = await anyio.to_thread.run_sync(lambda: _answer(ctx, queries, details=False))
    return JSONResponse({"results": [{"vulns": a} if a else {} for a in answers]})


@router.get("/v1/vulns/{osv_id}", include_in_schema=False)
def vuln(osv_id: str, ctx: Ctx) -> Response:
    """One advisory's OSV document, by its id or any id it was merged from."""
    with ctx.db.read() as session:
        advisory = find_advisory(session, osv_id)
        if advisory is None:
            return _error(QueryError("Bug not found.", status=404, code=_NOT_FOUND))
        return JSONResponse(advisory.document)
