"""The trusted-publishing API (``/_/oidc/…``) and the publisher management pages.

The API is PyPI's, so ``uv publish --trusted-publishing``, ``id`` and
pypa/gh-action-pypi-publish work against stockade unchanged: GET ``/_/oidc/audience``, POST
``/_/oidc/mint-token`` ``{"token": JWT}`` → ``{"success": true, "token", "expires"}`` (errors:
422 ``{"message": "Token request failed", "errors": [{"code", "description"}]}``), and POST
``/_/oidc/burn-token`` ``{"token": upload token}`` (uv revokes the token after uploading).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from stockade.db import ratelimit
from stockade.oidc.errors import ExchangeError
from stockade.oidc.exchange import audience_for, exchange
from stockade.oidc.keys import KeyStore
from stockade.oidc.services import MintedToken, burn_token
from stockade.web.auth import csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.jsonbody import BodyError, read_json
from stockade.web.oidc import pages

__all__ = ["api_router", "router"]

# Machine endpoints (JSON, called by CI jobs): no session, no CSRF.
api_router = APIRouter()
# Pages (publisher management): CSRF-protected forms.
router = APIRouter(dependencies=[Depends(csrf_protect)])
router.include_router(pages.router)

# Token exchanges per client address (a CI runner makes one per publish).
MINT_LIMIT = ratelimit.Limit(count=60, seconds=900)
_FAILED = "Token request failed"


def _keys(request: Request) -> KeyStore:
    # One cache of issuers' keys per running app (per worker process).
    store: KeyStore | None = getattr(request.app.state, "oidc_keys", None)
    if store is None:
        store = KeyStore()
        request.app.state.oidc_keys = store
    return store


def _refusal(code: str, description: str, status: int = 422) -> JSONResponse:
    body = {"message": _FAILED, "errors": [{"code": code, "description": description}]}
    return JSONResponse(body, status_code=status)


# An OIDC token is a few kilobytes; anything much larger is not one.
MAX_BODY = 64 * 1024


async def _token_field(request: Request) -> str:
    try:
        body: Any = await read_json(request, MAX_BODY)
    except BodyError as exc:
        raise ExchangeError("invalid-payload", exc.message) from exc
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ExchangeError("invalid-payload", "the request body has no token")
    return token


@api_router.get("/_/oidc/audience", include_in_schema=False)
async def audience(request: Request, ctx: Ctx) -> Response:
    """The audience CI jobs must request their OIDC token for."""
    return JSONResponse({"audience": audience_for(ctx.settings, ctx.link_base(request))})


def _mint(ctx: AppContext, keys: KeyStore, raw: str, aud: str, request: Request) -> MintedToken:
    return exchange(ctx.db, ctx.settings, keys, raw, audience=aud, origin=origin_of(request))


@api_router.post("/_/oidc/mint-token", include_in_schema=False)
@api_router.post(
    "/_/oidc/github/mint-token", include_in_schema=False
)  # older gh-action-pypi-publish
async def mint_token(request: Request, ctx: Ctx) -> Response:
    """Exchange a CI job's OIDC token for a 15-minute upload token for one project."""
    host = request.client.host if request.client else "unknown"
    try:
        await run_in_threadpool(ratelimit.hit, ctx.db, f"oidc-mint:ip:{host}", MINT_LIMIT)
    except ratelimit.RateLimited as exc:
        response = _refusal("rate-limit-exceeded", str(exc), status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    try:
        raw = await _token_field(request)
        aud = audience_for(ctx.settings, ctx.link_base(request))
        minted = await run_in_threadpool(_mint, ctx, _keys(request), raw, aud, request)
    except ExchangeError as exc:
        return _refusal(exc.code, exc.description)
    return JSONResponse(
        {
            "success": True,
            "token": minted.token,
            "expires": int(minted.expires_at.timestamp()),
        }
    )


def _burn(ctx: AppContext, raw: str, request: Request) -> bool:
    with ctx.db.write() as session:
        return burn_token(session, ctx.settings, raw, origin=origin_of(request))


@api_router.post("/_/oidc/burn-token", include_in_schema=False)
async def burn(request: Request, ctx: Ctx) -> Response:
    """Revoke an upload token minted by the exchange (a job calls this when it is done)."""
    try:
        raw = await _token_field(request)
    except ExchangeError as exc:
        return _refusal(exc.code, exc.description)
    if not await run_in_threadpool(_burn, ctx, raw, request):
        return _refusal("invalid-token", "not a live trusted-publisher upload token")
    return JSONResponse({"success": True})
