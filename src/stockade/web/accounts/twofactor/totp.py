"""Setting up and removing the authentication application (TOTP): a new secret shown as a QR
code, confirmed by a current code and the password; removed with the password (and, for the
last factor, a code)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.accounts.mails import two_factor_added_mail
from stockade.accounts.twofactor.factors import (
    TwoFactorError,
    confirm_totp,
    remove_totp,
    start_totp,
    totp_of,
)
from stockade.accounts.twofactor.totp import provisioning_uri, qr_svg
from stockade.db.ratelimit import hit
from stockade.web.accounts.limits import PASSWORD_CHANGE_PER_ACCOUNT
from stockade.web.accounts.twofactor.overview import (
    METHOD_WORDS,
    NO_STORE,
    TWO_FACTOR_PATH,
    Notify,
    active_user,
    codes_page,
    form_text,
    mail_notice,
    notify_of,
    read,
    remove_factor,
    show,
    write,
)
from stockade.web.auth import CurrentUser, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = ["TOTP_PATH", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

TOTP_PATH = TWO_FACTOR_PATH + "totp/"


@router.post(TOTP_PATH + "start/", include_in_schema=False)
def totp_start(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Begin setting up an authentication app: a new secret, shown on the next page."""
    try:
        write(ctx, lambda s: start_totp(s, active_user(s, identity.user_id)))
    except TwoFactorError as exc:
        return show(request, ctx, identity.user_id, errors={"totp": str(exc)})
    return RedirectResponse(TOTP_PATH, status_code=303)


def _totp_values(ctx: AppContext, user_id: int) -> dict[str, Any] | None:
    def values(session: Session) -> dict[str, Any] | None:
        user = active_user(session, user_id)
        row = totp_of(session, user_id, confirmed=False)
        if row is None or row.confirmed_at is not None:
            return None
        uri = provisioning_uri(row.secret, account=user.username, issuer=ctx.settings.site_name)
        spaced = " ".join(row.secret[i : i + 4] for i in range(0, len(row.secret), 4))
        return {"secret": spaced, "qr": qr_svg(uri), "uri": uri}

    return read(ctx, values)


def _totp_page(
    request: Request, ctx: AppContext, user_id: int, error: str | None = None
) -> Response:
    values = _totp_values(ctx, user_id)
    if values is None:
        return RedirectResponse(TWO_FACTOR_PATH, status_code=303)
    return render(
        request,
        "accounts/two_factor_totp.html",
        {**values, "error": error},
        status_code=400 if error else 200,
        headers=NO_STORE,
    )


@router.get(TOTP_PATH, include_in_schema=False)
def totp_page(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """The QR code and secret of the app being set up, and the form to confirm it."""
    return _totp_page(request, ctx, identity.user_id)


@router.post(TOTP_PATH + "confirm/", include_in_schema=False)
async def totp_confirm(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Confirm the app with a current code and the password: only now does it protect the
    account."""
    form = await request.form()
    code, password = form_text(form, "code"), form_text(form, "password")
    origin = origin_of(request)
    await run_in_threadpool(
        hit, ctx.db, f"2fa:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT
    )

    def run(session: Session) -> tuple[list[str], Notify]:
        user = active_user(session, identity.user_id)
        codes = confirm_totp(session, user, code, password=password, origin=origin, now=ctx.clock())
        return codes, notify_of(user)

    try:
        codes, notify = await run_in_threadpool(write, ctx, run)
    except TwoFactorError as exc:
        return await run_in_threadpool(_totp_page, request, ctx, identity.user_id, str(exc))
    site = ctx.settings.site_name
    await mail_notice(
        ctx,
        notify,
        lambda u, a: two_factor_added_mail(
            site_name=site, username=u, address=a, method=METHOD_WORDS["totp"]
        ),
    )
    if codes:
        return codes_page(request, codes, first=True)
    return RedirectResponse(f"{TWO_FACTOR_PATH}?done=totp-added", status_code=303)


@router.post(TOTP_PATH + "remove/", include_in_schema=False)
async def totp_remove(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Remove the authentication app (the password; for the last factor also a code)."""
    origin = origin_of(request)
    return await remove_factor(
        request,
        ctx,
        identity,
        "totp",
        lambda s, u, p, c: remove_totp(s, u, password=p, code=c, origin=origin, now=ctx.clock()),
        "totp-removed",
    )
