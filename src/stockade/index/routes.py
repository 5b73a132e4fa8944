"""HTTP routes of the index: upload, files, the legacy JSON API and the project page."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from packaging.utils import canonicalize_name
from sqlalchemy import select
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from stockade.index import json_api
from stockade.index.models import File, Project
from stockade.index.multipart import FormError, read_upload_form
from stockade.index.paths import blob_key
from stockade.index.ranges import RangeNotSatisfiable, parse_range
from stockade.index.upload import UploadError, accept_upload
from stockade.storage import BlobNotFound
from stockade.tokens.services import AuthenticatedToken, TokenError, check_token
from stockade.web.context import AppContext, Ctx, origin_of

__all__ = ["router"]

router = APIRouter()

_INVALID_AUTH = (
    "Invalid or non-existent authentication information. "
    "Upload with the username __token__ and an API token as the password."
)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # twine shows the reason phrase and uv the body: the one-line reason goes in the body.
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _authenticate(ctx: AppContext, password: str) -> AuthenticatedToken:
    with ctx.db.read() as session:
        return check_token(session, password, secret_key=ctx.settings.secret_key)


@router.post("/legacy/", include_in_schema=False)
@router.post("/legacy", include_in_schema=False)
async def upload(request: Request, ctx: Ctx) -> Response:
    """The legacy upload API, as twine and ``uv publish`` speak it."""
    credentials = _basic_credentials(request)
    if credentials is None:
        return _error(401, _INVALID_AUTH, {"WWW-Authenticate": 'Basic realm="stockade"'})
    username, password = credentials
    if username != "__token__":
        return _error(
            403,
            "Username/Password authentication is no longer supported. "
            "Migrate to API Tokens or Trusted Publishers instead.",
        )
    try:
        token = await run_in_threadpool(_authenticate, ctx, password)
    except TokenError as exc:
        return _error(403, f"Invalid API Token: {exc}.")
    try:
        form = await read_upload_form(request, ctx.settings.tmp_dir, ctx.settings.max_file_size)
    except FormError as exc:
        return _error(exc.status, exc.message)
    try:
        result = await run_in_threadpool(
            accept_upload, ctx.db, ctx.storage, ctx.settings, token, form, origin_of(request)
        )
    except UploadError as exc:
        return _error(exc.status, exc.message)
    finally:
        if form.file is not None:
            form.file.discard()
    if result.outcome == "created":
        ctx.pages.invalidate(result.project, root=True)
    return PlainTextResponse("OK\n")


# -- files ------------------------------------------------------------------------------------

_HEX = re.compile(r"^[0-9a-f]+$")
_IMMUTABLE = "public, max-age=31536000, immutable"


def _media_type(filename: str) -> str:
    if filename.endswith(".metadata"):
        return "text/plain; charset=utf-8"
    if filename.endswith(".whl"):
        return "application/zip"
    if filename.endswith(".tar.gz"):
        return "application/gzip"
    return "application/octet-stream"


def _lookup_file(ctx: AppContext, sha256: str, filename: str) -> tuple[str, int] | None:
    """(blob sha256, size) of a live file or its metadata sidecar, or None."""
    want_metadata = filename.endswith(".metadata")
    dist_name = filename[: -len(".metadata")] if want_metadata else filename
    with ctx.db.read() as session:
        row = session.execute(
            select(File.size, File.metadata_sha256, Project.status)
            .join(Project, Project.id == File.project_id)
            .where(File.filename == dist_name, File.sha256_digest == sha256)
        ).one_or_none()
    if row is None or row.status == "quarantined":
        return None
    if want_metadata:
        if row.metadata_sha256 is None:
            return None
        return row.metadata_sha256, -1
    return sha256, row.size


@router.api_route(
    "/packages/{a}/{b}/{rest}/{filename}", methods=["GET", "HEAD"], include_in_schema=False
)
def download(a: str, b: str, rest: str, filename: str, request: Request, ctx: Ctx) -> Response:
    """A distribution file or its metadata sidecar, with Range support."""
    sha256 = a + b + rest
    if len(a) != 2 or len(b) != 2 or len(sha256) != 64 or not _HEX.match(sha256):
        return _error(404, "Not Found")
    found = _lookup_file(ctx, sha256, filename)
    if found is None:
        return _error(404, "Not Found")
    blob_sha, _ = found
    key = blob_key(blob_sha)
    headers = {"cache-control": _IMMUTABLE, "etag": f'"{blob_sha}"'}
    media_type = _media_type(filename)
    local = ctx.storage.local_path(key)
    if local is not None:
        return FileResponse(local, media_type=media_type, headers=headers)
    return _stream_blob(ctx, key, request, media_type, headers)


def _stream_blob(
    ctx: AppContext, key: str, request: Request, media_type: str, headers: dict[str, str]
) -> Response:
    try:
        size = ctx.storage.size(key)
    except BlobNotFound:
        return _error(404, "Not Found")
    headers["accept-ranges"] = "bytes"
    try:
        span = parse_range(
            request.headers.get("range"), size, request.headers.get("if-range"), headers["etag"]
        )
    except RangeNotSatisfiable:
        return _error(416, "Range Not Satisfiable", {"content-range": f"bytes */{size}"})
    status = 200
    start, end = 0, size
    if span is not None:
        start, end = span
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    headers["content-length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = ctx.storage.iter_range(key, start, end)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


# -- legacy JSON API --------------------------------------------------------------------------


def load_project(ctx: AppContext, normalized: str, build: Any) -> Any:
    """``build(session, project)`` for the project with this name, or None if there is none."""
    with ctx.db.read() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == normalized))
        if project is None:
            return None
        return build(session, project)


def _json_or_404(doc: dict[str, Any] | None) -> Response:
    if doc is None:
        return JSONResponse({"message": "Not Found"}, status_code=404)
    headers = {"cache-control": "max-age=60, public", "x-pypi-last-serial": str(doc["last_serial"])}
    return JSONResponse(doc, headers=headers)


@router.get("/pypi/{name}/json", include_in_schema=False)
def project_json(name: str, request: Request, ctx: Ctx) -> Response:
    """``/pypi/<project>/json``, PyPI's fields."""
    normalized = canonicalize_name(name)
    if name != normalized:
        return RedirectResponse(f"/pypi/{normalized}/json", status_code=301)
    base = ctx.base_url(request)
    return _json_or_404(
        load_project(ctx, normalized, lambda s, p: json_api.project_json(s, p, base))
    )


@router.get("/pypi/{name}/{version}/json", include_in_schema=False)
def release_json(name: str, version: str, request: Request, ctx: Ctx) -> Response:
    """``/pypi/<project>/<version>/json``, PyPI's fields."""
    normalized = canonicalize_name(name)
    if name != normalized:
        return RedirectResponse(f"/pypi/{normalized}/{version}/json", status_code=301)
    base = ctx.base_url(request)
    return _json_or_404(
        load_project(ctx, normalized, lambda s, p: json_api.release_json(s, p, version, base))
    )
