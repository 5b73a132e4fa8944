"""The Upload 2.0 API (PEP 694) at ``/upload/``: publishing sessions.

Requests and responses are ``application/vnd.pypi.upload.v2+json``; refusals are RFC 9457
problem details (``application/problem+json``) with the PEP's ``meta`` and ``errors``
members. Authentication is the legacy API's: HTTP Basic ``__token__:<token>`` or a Bearer
token. The session's address carries its unguessable token.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from stockade.staging.models import PublishingSession
from stockade.staging.services import (
    StagingError,
    cancel_session,
    create_session,
    extend_session,
    find_session,
)
from stockade.tokens.services import AuthenticatedToken, TokenError, check_token
from stockade.web.context import Ctx, origin_of
from stockade.web.tokens.http import request_token

__all__ = ["CONTENT_TYPE", "router"]

router = APIRouter()

CONTENT_TYPE = "application/vnd.pypi.upload.v2+json"
PROBLEM_TYPE = "application/problem+json"
_META = {"api-version": "2.0"}


class _Refusal(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _problem(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    titles = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        409: "Conflict",
        415: "Unsupported Media Type",
        422: "Unprocessable Content",
    }
    body = {
        "type": "about:blank",
        "status": status,
        "title": titles.get(status, "Error"),
        "detail": message,
        "meta": _META,
        "errors": [{"source": "request", "message": message}],
    }
    return Response(json.dumps(body), status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(json.dumps(body), status_code=status, media_type=CONTENT_TYPE, headers=headers)


def _zulu(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _token(request: Request, ctx: Ctx) -> AuthenticatedToken:
    secret = request_token(request)
    if secret is None:
        raise _Refusal(
            401,
            "Authenticate with an API token (HTTP Basic __token__:<token>, or Bearer).",
            {"WWW-Authenticate": 'Basic realm="stockade"'},
        )

    def check() -> AuthenticatedToken:
        with ctx.db.read() as session:
            return check_token(session, secret, secret_key=ctx.settings.secret_key)

    try:
        return await run_in_threadpool(check)
    except TokenError as exc:
        raise _Refusal(403, f"Invalid API Token: {exc}.") from exc


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object, after the PEP's content type and ``meta.api-version``."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != CONTENT_TYPE:
        raise _Refusal(415, f"Send requests as {CONTENT_TYPE}.")
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise _Refusal(400, "The request body is too large.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refusal(400, "The request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise _Refusal(400, "The request body must be a JSON object.")
    meta = data.get("meta")
    if not isinstance(meta, dict) or meta.get("api-version") != "2.0":
        raise _Refusal(400, 'The request must carry "meta": {"api-version": "2.0"}.')
    return data


def _base(request: Request, ctx: Ctx) -> str:
    return ctx.base_url(request).rstrip("/") + "/upload"


def _session_url(request: Request, ctx: Ctx, session_token: str) -> str:
    return f"{_base(request, ctx)}/session/{session_token}"


def _session_body(request: Request, ctx: Ctx, staged: PublishingSession) -> dict[str, Any]:
    url = _session_url(request, ctx, staged.token)
    links = {
        "session": url,
        "publish": f"{url}/publish",
        "extend": f"{url}/extend",
        "upload": f"{url}/files/",
        "stage": f"{_base(request, ctx)}/stage/{staged.token}/simple/",
    }
    return {
        "meta": _META,
        "links": links,
        "mechanisms": ["http-post-bytes"],
        "session-token": staged.token,
        "expires-at": _zulu(staged.expires_at),
        "status": staged.status,
        "files": {},
        "notices": [],
    }


def _refused(exc: StagingError | _Refusal, request: Request, ctx: Ctx) -> Response:
    if isinstance(exc, _Refusal):
        return _problem(exc.status, exc.message, exc.headers)
    headers = {}
    if exc.session_token is not None:
        headers["Location"] = _session_url(request, ctx, exc.session_token)
    return _problem(exc.status, exc.message, headers)


@router.post("/upload/", include_in_schema=False)
async def create(request: Request, ctx: Ctx) -> Response:
    """Create a publishing session (201 and its address in ``Location``)."""
    try:
        token = await _token(request, ctx)
        data = await _body(request)
        name, version = data.get("name"), data.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise _Refusal(400, 'The request must name the "name" and "version" (strings).')
        staged = await run_in_threadpool(
            create_session, ctx.db, ctx.settings, token, name, version, origin_of(request)
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    body = _session_body(request, ctx, staged)
    return _json(body, 201, {"Location": body["links"]["session"]})


@router.get("/upload/session/{session_token}", include_in_schema=False)
async def status(session_token: str, request: Request, ctx: Ctx) -> Response:
    """The session's status."""
    try:
        token = await _token(request, ctx)
        staged = await run_in_threadpool(find_session, ctx.db, ctx.settings, token, session_token)
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    return _json(_session_body(request, ctx, staged))


@router.delete("/upload/session/{session_token}", include_in_schema=False)
async def cancel(session_token: str, request: Request, ctx: Ctx) -> Response:
    """Cancel the session: nothing of it will be published."""
    try:
        token = await _token(request, ctx)
        await run_in_threadpool(
            cancel_session, ctx.db, ctx.settings, token, session_token, origin_of(request)
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    return Response(status_code=204)


@router.post("/upload/session/{session_token}/extend", include_in_schema=False)
async def extend(session_token: str, request: Request, ctx: Ctx) -> Response:
    """Ask for more time (the answer says how much was given)."""
    try:
        token = await _token(request, ctx)
        data = await _body(request)
        seconds = data.get("extend-for")
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise _Refusal(400, '"extend-for" must be a whole number of seconds.')
        staged = await run_in_threadpool(
            extend_session, ctx.db, ctx.settings, token, session_token, seconds
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    return _json(_session_body(request, ctx, staged))
