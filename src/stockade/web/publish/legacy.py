"""The legacy upload API (``POST /legacy/``), as twine and ``uv publish`` speak it: the token
is checked, the form streamed to disk, and the upload use case (:mod:`stockade.publish.upload`)
does the rest. With the ``X-Stockade-Publishing-Session`` header the file is staged into that
Upload 2.0 session instead (:mod:`stockade.staging`; the Upload 2.0 root is ``/upload/``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import (
    PlainTextResponse,
    Response,
)

from stockade.config import replace as replace_settings
from stockade.db import ratelimit
from stockade.mail import deliver
from stockade.metrics import UPLOAD_REFUSALS, UPLOADS, refusal_reason
from stockade.publish.errors import UploadError
from stockade.publish.upload import accept_upload
from stockade.staging.publishing import stage_legacy_upload
from stockade.staging.services import StagingError
from stockade.stats.mandate import upload_warning
from stockade.tokens.services import AuthenticatedToken, TokenError, check_token
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.publish.multipart import FormError, read_upload_form
from stockade.web.tokens.http import basic_credentials

__all__ = ["router"]

router = APIRouter()

# Failed token checks on /legacy/ per client address.
UPLOAD_AUTH_FAILURES = ratelimit.Limit(count=60, seconds=900)

# The stockade extension header that sends a legacy upload into a PEP 694 publishing session
# (its value: the session token, the ``session-token`` of the session's Upload 2.0 response).
STAGING_HEADER = "x-stockade-publishing-session"

_INVALID_AUTH = (
    "Invalid or non-existent authentication information. "
    "Upload with the username __token__ and an API token as the password."
)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # twine shows the reason phrase and uv the body: the one-line reason goes in the body.
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


def _authenticate(ctx: AppContext, password: str) -> AuthenticatedToken:
    with ctx.db.read() as session:
        return check_token(session, password, secret_key=ctx.settings.secret_key)


@router.post("/legacy/", include_in_schema=False)
@router.post("/legacy", include_in_schema=False)
async def upload(request: Request, ctx: Ctx) -> Response:
    """The legacy upload API, as twine and ``uv publish`` speak it (refusals are counted)."""
    response = await _upload(request, ctx)
    if response.status_code >= 400:
        status = response.status_code
        UPLOAD_REFUSALS.labels(refusal_reason(status), str(status)).inc()
    return response


async def _upload(request: Request, ctx: Ctx) -> Response:
    credentials = basic_credentials(request)
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
        # Guessing tokens is slowed down per address; the failure itself is answered 403.
        host = request.client.host if request.client else "unknown"
        await run_in_threadpool(
            ratelimit.hit, ctx.db, f"upload-auth:ip:{host}", UPLOAD_AUTH_FAILURES
        )
        return _error(403, f"Invalid API Token: {exc}.")
    try:
        form = await read_upload_form(
            request,
            ctx.settings.tmp_dir,
            ctx.settings.max_file_size,
            idle_timeout=ctx.settings.upload_idle_timeout,
        )
    except FormError as exc:
        return _error(exc.status, exc.message)
    session_token = request.headers.get(STAGING_HEADER)
    if session_token is not None:
        # A stockade extension: the file goes into an Upload 2.0 publishing session.
        try:
            await run_in_threadpool(
                stage_legacy_upload, ctx.db, ctx.storage, ctx.settings, token, session_token, form
            )
        except StagingError as exc:
            return _error(exc.status, exc.message)
        finally:
            if form.file is not None:
                form.file.discard()
        return PlainTextResponse("OK (staged)\n")
    try:
        # Refusals link pages of this site (the 2FA setup page): at the URL the client used.
        settings = replace_settings(ctx.settings, base_url=ctx.base_url(request))
        result = await run_in_threadpool(
            accept_upload, ctx.db, ctx.storage, settings, token, form, origin_of(request)
        )
    except UploadError as exc:
        return _error(exc.status, exc.message)
    finally:
        if form.file is not None:
            form.file.discard()
    UPLOADS.labels(result.outcome).inc()
    if result.outcome == "created":
        ctx.pages.invalidate(result.project, root=True)
    if result.messages:
        await run_in_threadpool(deliver, ctx.mailer, *result.messages)
    if result.notice is not None:
        # A provenance regression held or accepted (stockade.publish.regression).
        return PlainTextResponse(f"OK\n{result.notice}\n")
    # Before the 2FA enforcement date: the upload is taken, with a warning in the body.
    warning = await run_in_threadpool(
        upload_warning, ctx.db, settings, token, result.project, origin_of(request)
    )
    return PlainTextResponse("OK\n" if warning is None else f"OK\n{warning}\n")
