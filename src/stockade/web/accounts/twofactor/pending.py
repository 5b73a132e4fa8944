"""The browser side of a pending login: its cookie, and where the second step is."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from stockade.accounts.twofactor.login import CONFIRM_LIFETIME
from stockade.web.context import get_context

__all__ = [
    "CONFIRM_PATH",
    "PENDING_COOKIE",
    "SECOND_STEP_PATH",
    "clear_pending_cookie",
    "second_step_redirect",
]

PENDING_COOKIE = "stockade_2fa"
SECOND_STEP_PATH = "/account/login/two-factor/"
CONFIRM_PATH = "/account/login/confirm/"
# Only the login pages need to see the cookie.
_COOKIE_PATH = "/account/login/"


def _is_https(request: Request) -> bool:
    base = get_context(request).settings.base_url
    return base.startswith("https://") if base else request.url.scheme == "https"


def second_step_redirect(request: Request, pending_secret: str) -> Response:
    """Send the browser to the second step, holding the pending login in a cookie."""
    response = RedirectResponse(SECOND_STEP_PATH, status_code=303)
    response.set_cookie(
        PENDING_COOKIE,
        pending_secret,
        # Long enough for a mailed confirmation; the row's own expiry is what counts.
        max_age=int(CONFIRM_LIFETIME.total_seconds()),
        httponly=True,
        secure=_is_https(request),
        samesite="lax",
        path=_COOKIE_PATH,
    )
    return response


def clear_pending_cookie(request: Request, response: Response) -> None:
    """Forget the pending login in the browser."""
    response.delete_cookie(
        PENDING_COOKIE, path=_COOKIE_PATH, secure=_is_https(request), httponly=True
    )
