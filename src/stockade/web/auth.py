"""Who is asking: session cookies, the current user, CSRF tokens, and the guards routes use.

Routes of the web UI take ``Identity`` through these dependencies:

- ``get_identity`` — the logged-in user, or None;
- ``require_user`` — redirects anonymous visitors to the login page;
- ``require_admin`` — 403 for anyone but an administrator;
- ``csrf_protect`` — on every router of the UI: every unsafe request must carry the form field
  ``csrf_token`` (templates call ``csrf_input(request)``) or the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from markupsafe import Markup
from sqlalchemy import update
from starlette.responses import Response

from stockade.accounts.models import User, UserSession
from stockade.accounts.sessions import SessionPolicy, load_session
from stockade.web.context import AppContext, get_context

__all__ = [
    "ANON_COOKIE",
    "SESSION_COOKIE",
    "CsrfFailed",
    "Forbidden",
    "Identity",
    "LoginRequired",
    "clear_session_cookie",
    "csrf_input",
    "csrf_protect",
    "csrf_token",
    "get_identity",
    "require_admin",
    "require_user",
    "set_session_cookie",
]

SESSION_COOKIE = "stockade_session"
ANON_COOKIE = "stockade_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
POLICY = SessionPolicy()


@dataclass(frozen=True)
class Identity:
    """The logged-in user of a request."""

    user_id: int
    username: str
    is_admin: bool
    session_id: str
    csrf_secret: str


class LoginRequired(Exception):
    """The page needs a logged-in user (answered with a redirect to the login page)."""


class Forbidden(Exception):
    """The user may not do this (answered 403 with the message)."""

    def __init__(self, message: str = "You are not allowed to do this.") -> None:
        super().__init__(message)
        self.message = message


class CsrfFailed(Exception):
    """An unsafe request without a valid CSRF token (answered 403)."""


def _load(ctx: AppContext, cookie: str) -> tuple[UserSession, User] | None:
    # Most page views change nothing: read in a read transaction, and take the database's
    # write lock only for the once-a-minute last_seen_at refresh.
    with ctx.db.read() as session:
        found = load_session(session, cookie, policy=POLICY)
        if found is None:
            return None
        row, user = found
        touched = session.is_modified(row)
        session.expunge_all()
    if touched:
        with ctx.db.write() as session:
            session.execute(
                update(UserSession)
                .where(UserSession.id == row.id)
                .values(last_seen_at=row.last_seen_at)
            )
    return row, user


async def get_identity(request: Request) -> Identity | None:
    """The logged-in user, or None. Looked up once per request."""
    if "identity" in request.state._state:
        cached: Identity | None = request.state.identity
        return cached
    identity = None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        from fastapi.concurrency import run_in_threadpool

        found = await run_in_threadpool(_load, get_context(request), cookie)
        if found is not None:
            row, user = found
            identity = Identity(user.id, user.username, user.is_admin, row.id, row.csrf_secret)
    request.state.identity = identity
    return identity


async def require_user(
    identity: Annotated[Identity | None, Depends(get_identity)],
) -> Identity:
    """The logged-in user; anonymous visitors are sent to the login page."""
    if identity is None:
        raise LoginRequired
    return identity


async def require_admin(identity: Annotated[Identity, Depends(require_user)]) -> Identity:
    """An administrator; anyone else gets 403."""
    if not identity.is_admin:
        raise Forbidden("This page is for administrators.")
    return identity


def _anon_seed(request: Request) -> str:
    seed = request.cookies.get(ANON_COOKIE) or getattr(request.state, "new_anon_seed", None)
    if not seed:
        seed = secrets.token_urlsafe(24)
        # The response middleware sets the cookie (see security.SecurityHeaders).
        request.state.new_anon_seed = seed
    return str(seed)


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on this page (bound to the session, or to a cookie seed)."""
    ctx = get_context(request)
    identity: Identity | None = getattr(request.state, "identity", None)
    material = f"user:{identity.csrf_secret}" if identity else f"anon:{_anon_seed(request)}"
    return hmac.new(ctx.settings.secret_key.encode(), material.encode(), hashlib.sha256).hexdigest()


def csrf_input(request: Request) -> Markup:
    """A hidden form field carrying the CSRF token."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token(request))


async def csrf_protect(
    request: Request, identity: Annotated[Identity | None, Depends(get_identity)]
) -> None:
    """Refuse unsafe requests without a valid CSRF token (router-wide dependency)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not identity and not request.cookies.get(ANON_COOKIE):
        raise CsrfFailed
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfFailed


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    """Set the session cookie with secure flags."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(POLICY.absolute.total_seconds()),
        httponly=True,
        secure=_is_https(request),
        samesite="lax",
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_is_https(request), httponly=True)


def _is_https(request: Request) -> bool:
    ctx = get_context(request)
    if ctx.settings.base_url:
        return ctx.settings.base_url.startswith("https://")
    return request.url.scheme == "https"


def login_url(request: Request) -> str:
    """The login page, coming back to the current page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/account/login/?next={quote(target)}"


CurrentUser = Annotated[Identity, Depends(require_user)]
MaybeUser = Annotated[Identity | None, Depends(get_identity)]
AdminUser = Annotated[Identity, Depends(require_admin)]
