"""``POST /_/secrets/disclose-token``: a secret scanner reports tokens it found in public.

PyPI's answers: 404 without the scanner's two headers, 400 for a signature that does not
check out or a body that is not a list of records, else 204 No Content, whether or not any
token in the report was ours (the scanner learns nothing about which tokens exist).
``/_/github/disclose-token`` is the older path PyPI keeps for the same report.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from stockade.mail import deliver
from stockade.tokens.leaks import Disclosure, LeakReportError, parse_report, revoke_leaked
from stockade.tokens.scanning import ScannerKeys, SignatureError
from stockade.web.context import AppContext, Ctx, origin_of

__all__ = ["router"]

router = APIRouter()

KEY_ID_HEADER = "Github-Public-Key-Identifier"
SIGNATURE_HEADER = "Github-Public-Key-Signature"
# A report is a list of short records; a megabyte is far beyond any real one.
MAX_BODY = 1024 * 1024


def _keys(request: Request, url: str) -> ScannerKeys:
    # One cache of the scanner's keys per running app (per worker process).
    keys: ScannerKeys | None = getattr(request.app.state, "scanner_keys", None)
    if keys is None or keys.url != url:
        keys = ScannerKeys(url)
        request.app.state.scanner_keys = keys
    return keys


def _refused(status: int, message: str) -> Response:
    return PlainTextResponse(message + "\n", status_code=status)


def _revoke(ctx: AppContext, disclosures: list[Disclosure], request: Request) -> None:
    with ctx.db.write() as session:
        messages = revoke_leaked(
            session,
            disclosures,
            secret_key=ctx.settings.secret_key,
            origin=origin_of(request),
            site_name=ctx.settings.site_name,
            base_url=ctx.base_url(request),
        )
    deliver(ctx.mailer, *messages)


@router.post("/_/secrets/disclose-token", include_in_schema=False)
@router.post("/_/github/disclose-token", include_in_schema=False)  # PyPI's older path
async def disclose_token(request: Request, ctx: Ctx) -> Response:
    """Revoke every token of ours in a signed report, and mail each token's user."""
    key_id = request.headers.get(KEY_ID_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not key_id or not signature:
        return _refused(404, "Not a secret scanner's report: its signature headers are missing.")
    payload = b""
    async for chunk in request.stream():
        payload += chunk
        if len(payload) > MAX_BODY:
            return _refused(413, f"The report is too large: at most {MAX_BODY} bytes.")
    keys = _keys(request, ctx.settings.secret_scanning_keys_url)
    try:
        await run_in_threadpool(keys.verify, payload, key_id, signature)
    except SignatureError as exc:
        return _refused(400, f"The report's signature was refused: {exc}.")
    try:
        body: Any = json.loads(payload)
        disclosures = parse_report(body)
    except (ValueError, UnicodeDecodeError, LeakReportError):
        return _refused(400, "The report is not a JSON list of disclosures.")
    if disclosures:
        await run_in_threadpool(_revoke, ctx, disclosures, request)
    return Response(status_code=204)
