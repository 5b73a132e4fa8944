"""The Upload 2.0 API (PEP 694) at ``/upload/``: publishing sessions.

Requests and responses are ``application/vnd.pypi.upload.v2+json``; refusals are RFC 9457
problem details (``application/problem+json``) with the PEP's ``meta`` and ``errors``
members. Authentication is the legacy API's: HTTP Basic ``__token__:<token>`` or a Bearer
token. The session's address carries its unguessable token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from stockade.staging.files import (
    MECHANISM,
    Received,
    attach_attestations,
    complete_file,
    declare_file,
    delete_file,
    find_file,
    receive_bytes,
    session_files,
)
from stockade.staging.models import PublishingSession, StagedFile
from stockade.staging.publishing import publish_session
from stockade.staging.services import (
    StagingError,
    cancel_session,
    create_session,
    extend_session,
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


def _session_body(
    request: Request, ctx: Ctx, staged: PublishingSession, files: list[StagedFile] | None = None
) -> dict[str, Any]:
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
        "files": {
            row.filename: {
                "status": row.status,
                "link": f"{url}/files/{row.token}",
                **({"notices": [row.problem]} if row.problem else {}),
            }
            for row in files or ()
        },
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
        staged, files = await run_in_threadpool(
            session_files, ctx.db, ctx.settings, token, session_token
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    return _json(_session_body(request, ctx, staged, files))


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


def _file_url(request: Request, ctx: Ctx, session_token: str, file_token: str) -> str:
    return f"{_session_url(request, ctx, session_token)}/files/{file_token}"


def _file_body(
    request: Request, ctx: Ctx, staged: PublishingSession, row: StagedFile
) -> dict[str, Any]:
    url = _file_url(request, ctx, staged.token, row.token)
    return {
        "meta": _META,
        "links": {"file-upload-session": url, "complete": f"{url}/complete"},
        "status": row.status,
        "expires-at": _zulu(staged.expires_at),
        "mechanism": {
            "identifier": MECHANISM,
            "file_url": f"{url}/bytes",
            "attestations_url": f"{url}/attestations",
        },
        **({"notices": [row.problem]} if row.problem else {}),
    }


@router.post("/upload/session/{session_token}/files/", include_in_schema=False)
async def declare(session_token: str, request: Request, ctx: Ctx) -> Response:
    """Start a file upload session (202, with the mechanism's address)."""
    try:
        token = await _token(request, ctx)
        data = await _body(request)
        row = await run_in_threadpool(
            declare_file, ctx.db, ctx.settings, token, session_token, data
        )
        staged, row = await run_in_threadpool(
            find_file, ctx.db, ctx.settings, token, session_token, row.token
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    body = _file_body(request, ctx, staged, row)
    return _json(body, 202, {"Location": body["links"]["file-upload-session"], "Retry-After": "1"})


@router.get("/upload/session/{session_token}/files/{file_token}", include_in_schema=False)
async def file_status(session_token: str, file_token: str, request: Request, ctx: Ctx) -> Response:
    """A file upload session's status."""
    try:
        token = await _token(request, ctx)
        staged, row = await run_in_threadpool(
            find_file, ctx.db, ctx.settings, token, session_token, file_token
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    return _json(_file_body(request, ctx, staged, row), headers={"Retry-After": "1"})


@router.delete("/upload/session/{session_token}/files/{file_token}", include_in_schema=False)
async def file_delete(session_token: str, file_token: str, request: Request, ctx: Ctx) -> Response:
    """Cancel an upload or delete a staged file."""
    try:
        token = await _token(request, ctx)
        await run_in_threadpool(delete_file, ctx.db, ctx.settings, token, session_token, file_token)
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    return Response(status_code=204)


async def _spool(request: Request, ctx: Ctx, declared: StagedFile) -> Received:
    """The body, to a temporary file, hashed with every declared algorithm on the way; more
    bytes than declared are refused at once."""
    hashers: dict[str, Any] = {name: hashlib.new(name) for name in declared.hashes}
    hashers["sha256"] = hashlib.sha256()
    hashers["blake2b_256"] = hashlib.blake2b(digest_size=32)
    hashers["md5"] = hashlib.md5(usedforsecurity=False)
    fd, name = tempfile.mkstemp(dir=ctx.settings.tmp_dir, prefix="stage-", suffix=".part")
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > declared.size:
                    raise _Refusal(400, f"More than the declared {declared.size} bytes arrived.")
                for hasher in hashers.values():
                    hasher.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Received(path, size, {k: h.hexdigest() for k, h in hashers.items()})


@router.post("/upload/session/{session_token}/files/{file_token}/bytes", include_in_schema=False)
async def file_bytes(session_token: str, file_token: str, request: Request, ctx: Ctx) -> Response:
    """The ``http-post-bytes`` mechanism: the file's bytes as the body."""
    received: Received | None = None
    try:
        token = await _token(request, ctx)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/octet-stream":
            raise _Refusal(415, "Send the file's bytes as application/octet-stream.")
        _staged, row = await run_in_threadpool(
            find_file, ctx.db, ctx.settings, token, session_token, file_token
        )
        received = await _spool(request, ctx, row)
        await run_in_threadpool(
            receive_bytes,
            ctx.db,
            ctx.storage,
            ctx.settings,
            token,
            session_token,
            file_token,
            received,
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    finally:
        if received is not None:
            received.path.unlink(missing_ok=True)
    return Response(status_code=204)


# A few attestations of a few kilobytes each; far more than any client sends.
_MAX_ATTESTATIONS_BODY = 1024 * 1024


@router.post(
    "/upload/session/{session_token}/files/{file_token}/attestations", include_in_schema=False
)
async def file_attestations(
    session_token: str, file_token: str, request: Request, ctx: Ctx
) -> Response:
    """PEP 740 attestations for the file (a JSON array), before its completion (204)."""
    try:
        token = await _token(request, ctx)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise _Refusal(415, "Send the attestations as a JSON array (application/json).")
        raw = await request.body()
        if len(raw) > _MAX_ATTESTATIONS_BODY:
            raise _Refusal(400, "The attestations are too large.")
        try:
            text = raw.decode("utf-8")
            if not isinstance(json.loads(text), list):
                raise ValueError
        except ValueError as exc:
            raise _Refusal(400, "The attestations must be a JSON array.") from exc
        await run_in_threadpool(
            attach_attestations, ctx.db, ctx.settings, token, session_token, file_token, text
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    return Response(status_code=204)


@router.post("/upload/session/{session_token}/files/{file_token}/complete", include_in_schema=False)
async def file_complete(
    session_token: str, file_token: str, request: Request, ctx: Ctx
) -> Response:
    """Complete a file upload session (201), or move it to error with the reason."""
    try:
        token = await _token(request, ctx)
        await _body(request)
        await run_in_threadpool(
            complete_file, ctx.db, ctx.settings, token, session_token, file_token
        )
        staged, row = await run_in_threadpool(
            find_file, ctx.db, ctx.settings, token, session_token, file_token
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    body = _file_body(request, ctx, staged, row)
    return _json(body, 201, {"Location": body["links"]["file-upload-session"]})


@router.post("/upload/session/{session_token}/publish", include_in_schema=False)
async def publish(session_token: str, request: Request, ctx: Ctx) -> Response:
    """Publish the session: every file at once (201), or nothing."""
    try:
        token = await _token(request, ctx)
        await _body(request)
        name = await run_in_threadpool(
            publish_session, ctx.db, ctx.settings, token, session_token, origin_of(request)
        )
        staged, files = await run_in_threadpool(
            session_files, ctx.db, ctx.settings, token, session_token
        )
    except (StagingError, _Refusal) as exc:
        return _refused(exc, request, ctx)
    ctx.pages.invalidate(name, root=True)
    body = _session_body(request, ctx, staged, files)
    return _json(body, 201, {"Location": body["links"]["session"]})
