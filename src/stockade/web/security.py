"""Security headers on every web response, the anonymous CSRF cookie, and turning auth errors
into responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockade.db.ratelimit import RateLimited
from stockade.web.auth import ANON_COOKIE, CsrfFailed, Forbidden, LoginRequired, login_url

__all__ = ["SecurityHeaders", "install_error_handlers"]

CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds strict security headers; sets the anonymous CSRF seed cookie when one was made."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in _HEADERS if h[0] not in present)
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                seed = state.get("new_anon_seed")
                if seed:
                    cookie = f"{ANON_COOKIE}={seed}; Path=/; HttpOnly; SameSite=Lax"
                    if https:
                        cookie += "; Secure"
                    headers.append((b"set-cookie", cookie.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Paths whose answers are for programs: a 404 there stays JSON, whatever the client accepts.
_API_PATHS = (
    "/pypi/",
    "/legacy",
    "/api/",
    "/v1/",
    "/_/",
    "/_health",
    "/integrity/",
    "/metrics",
    "/openapi",
    "/views/",
    "/simple",
    "/packages/",
)
_PAGE_PATHS = ("/manage/", "/project/", "/account/", "/admin/")


def _wants_page(request: Request) -> bool:
    """Whether a 404 goes to a person: a page's path, or any path but an API's asked for by a
    browser (which accepts ``text/html``)."""
    path = request.url.path
    if path == "/" or path.startswith(_PAGE_PATHS):
        return True
    return not path.startswith(_API_PATHS) and "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI) -> None:
    """Map the web layer's exceptions to responses."""

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(request), status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return PlainTextResponse(exc.message + "\n", status_code=403)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return PlainTextResponse(
            "The form has expired or did not come from this site (CSRF check failed). "
            "Reload the page and try again.\n",
            status_code=403,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # Pages people see get the site's 404 page; APIs keep their JSON answers.
        if exc.status_code == 404 and _wants_page(request):
            from stockade.web.templating import render

            name = getattr(exc, "project_name", None)
            return render(request, "not_found.html", {"name": name}, status_code=404)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> Response:
        return PlainTextResponse(
            str(exc) + "\n", status_code=429, headers={"Retry-After": str(exc.retry_after)}
        )
