"""PyPI's XML-RPC at ``POST /pypi``: the read-only calls mirrors and older tools still make.

``list_packages_with_serial``, ``changelog_last_serial``, ``changelog_since_serial``,
``package_releases`` and ``release_urls``, with PyPI's answer shapes (bandersnatch 6 syncs
through the first three and ``/pypi/<name>/json``). Nothing here writes.

The body is bounded and parsed with expat directly: a document type declaration (and with it
any entity, internal or external) is refused before anything is expanded, so neither "billion
laughs" nor external entities reach the parser's expansion machinery. Malformed or hostile XML
gets 400, a body that is too large 413, a client over its rate 429; a well-formed call to an
unknown method, or with wrong parameters, gets an XML-RPC fault as PyPI answers it.
"""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Callable
from typing import Any
from xml.parsers import expat

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from stockade.db import ratelimit
from stockade.index import feeds
from stockade.index.models import File
from stockade.index.paths import file_path
from stockade.web.context import AppContext, Ctx
from stockade.web.index.json_api import file_document

__all__ = ["MAX_BODY", "XMLRPC_LIMIT", "HostileXml", "parse_call", "router"]

router = APIRouter()

# A call is a method name and a few scalars: a few hundred bytes.
MAX_BODY = 64 * 1024
# Calls per client address; a mirror run makes two or three, plus its JSON requests.
XMLRPC_LIMIT = ratelimit.Limit(count=120, seconds=60)
# Project names and versions longer than this are no project here.
_MAX_NAME = 255

_XML = "text/xml; charset=utf-8"


class HostileXml(ValueError):
    """The body is not an XML-RPC call this server reads."""


def _refuse_dtd(*_: object) -> None:
    raise HostileXml("XML with a document type declaration or entities is not accepted")


def _refuse_external(context: str, base: str | None, system: str | None, public: str | None) -> int:
    raise HostileXml("XML with external entities is not accepted")


def parse_call(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """The method name and parameters of an XML-RPC ``methodCall``; HostileXml otherwise."""
    unmarshaller = xmlrpc.client.Unmarshaller()
    # As xmlrpc.client's own ExpatParser: expat hands over text already decoded.
    unmarshaller.xml(None, None)  # type: ignore[arg-type]  # (typeshed says str; None is right)
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.UnparsedEntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = unmarshaller.start
    parser.EndElementHandler = unmarshaller.end
    parser.CharacterDataHandler = unmarshaller.data
    try:
        parser.Parse(body, True)
        params = unmarshaller.close()
    except HostileXml:
        raise
    except expat.ExpatError as exc:
        raise HostileXml(f"not well-formed XML: {exc}") from None
    except (ValueError, TypeError, OverflowError, IndexError, KeyError, xmlrpc.client.Error) as exc:
        # The unmarshaller trusts the element structure: a struct without its member, an
        # array closed twice … surface as these.
        raise HostileXml(f"not an XML-RPC call: {exc}") from None
    method = unmarshaller.getmethodname()
    if not isinstance(method, str) or not method:
        raise HostileXml("not an XML-RPC call: no methodName")
    return method, tuple(params)


# -- the methods: (session, base URL, params) -> answer ------------------------------------


class _BadParams(Exception):
    pass


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _BadParams
    return value


def _arity(params: tuple[Any, ...], least: int, most: int) -> None:
    if not least <= len(params) <= most:
        raise _BadParams


def _list_packages_with_serial(s: Session, base: str, params: tuple[Any, ...]) -> Any:
    _arity(params, 0, 0)
    return feeds.packages_with_serial(s)


def _changelog_last_serial(s: Session, base: str, params: tuple[Any, ...]) -> Any:
    _arity(params, 0, 0)
    return feeds.last_serial(s)


def _changelog_since_serial(s: Session, base: str, params: tuple[Any, ...]) -> Any:
    _arity(params, 1, 1)
    since = params[0]
    # A serial is a 64-bit integer: anything else is no serial (and no database can compare it).
    if not isinstance(since, int) or isinstance(since, bool) or abs(since) >= 2**63:
        raise _BadParams
    return [
        [e.name, e.version, e.timestamp, e.action, e.serial]
        for e in feeds.changelog_since(s, since)
    ]


def _package_releases(s: Session, base: str, params: tuple[Any, ...]) -> Any:
    _arity(params, 1, 2)
    name = _text(params[0])
    every = bool(params[1]) if len(params) == 2 else False
    if len(name) > _MAX_NAME:
        return []
    return feeds.project_versions(s, name, every=every)


# The keys of a file in PyPI's ``release_urls`` answer that its JSON API shares.
_SHARED_FILE_KEYS = (
    "comment_text",
    "digests",
    "downloads",
    "filename",
    "has_sig",
    "md5_digest",
    "packagetype",
    "python_version",
    "size",
    "url",
)


def _file_entry(f: File, base: str) -> dict[str, Any]:
    doc = file_document(f, f.release, base)
    entry = {key: doc[key] for key in _SHARED_FILE_KEYS}
    entry["path"] = file_path(f.sha256_digest, f.filename).removeprefix("/packages/")
    entry["sha256_digest"] = f.sha256_digest
    entry["upload_time"] = doc["upload_time"] + "Z"
    return entry


def _release_urls(s: Session, base: str, params: tuple[Any, ...]) -> Any:
    _arity(params, 2, 2)
    name, version = _text(params[0]), _text(params[1])
    if len(name) > _MAX_NAME or len(version) > _MAX_NAME:
        return []
    return [_file_entry(f, base) for f in feeds.release_files(s, name, version)]


_METHODS: dict[str, Callable[[Session, str, tuple[Any, ...]], Any]] = {
    "list_packages_with_serial": _list_packages_with_serial,
    "changelog_last_serial": _changelog_last_serial,
    "changelog_since_serial": _changelog_since_serial,
    "package_releases": _package_releases,
    "release_urls": _release_urls,
}


def _answer(ctx: AppContext, method: str, params: tuple[Any, ...], base: str) -> bytes:
    """The XML-RPC response document (a fault for an unknown method or wrong parameters)."""
    call = _METHODS.get(method)
    if call is None:
        fault = xmlrpc.client.Fault(-32601, f"server error; requested method not found: {method}")
        return xmlrpc.client.dumps(fault, methodresponse=True).encode()
    try:
        with ctx.db.read() as session:
            result = call(session, base, params)
    except _BadParams:
        fault = xmlrpc.client.Fault(-32602, "server error; invalid method params")
        return xmlrpc.client.dumps(fault, methodresponse=True).encode()
    return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True).encode()


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


async def _bounded_body(request: Request) -> bytes | None:
    """The request body, or None once it grows past MAX_BODY (nothing more is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/pypi", include_in_schema=False)
async def xmlrpc_call(request: Request, ctx: Ctx) -> Response:
    """One XML-RPC call, answered as PyPI answers it."""
    host = request.client.host if request.client else "unknown"
    try:
        await run_in_threadpool(ratelimit.hit, ctx.db, f"xmlrpc:ip:{host}", XMLRPC_LIMIT)
    except ratelimit.RateLimited as exc:
        return _refusal(429, str(exc), {"retry-after": str(exc.retry_after)})
    body = await _bounded_body(request)
    if body is None:
        return _refusal(413, f"An XML-RPC call is at most {MAX_BODY} bytes.")
    try:
        method, params = parse_call(body)
    except HostileXml as exc:
        return _refusal(400, f"Bad XML-RPC request: {exc}")
    answer = await run_in_threadpool(_answer, ctx, method, params, ctx.base_url(request))
    return Response(answer, media_type=_XML)


@router.get("/pypi", include_in_schema=False)
def xmlrpc_get() -> Response:
    """XML-RPC is POST only; say so, as PyPI does."""
    return _refusal(405, "XML-RPC calls are POST requests to this URL.", {"allow": "POST"})
