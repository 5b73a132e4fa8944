"""Security keys (WebAuthn) on the two-factor page: the registration challenge, keeping the
browser's new credential, removing a key; and the script that drives the browser's side."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.accounts.mails import two_factor_added_mail
from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import TwoFactorError, remove_webauthn_key
from stockade.accounts.twofactor.webauthn import register_key, registration_options, relying_party
from stockade.db.ratelimit import hit
from stockade.web.accounts.limits import PASSWORD_CHANGE_PER_ACCOUNT
from stockade.web.accounts.twofactor.overview import (
    NO_STORE,
    TWO_FACTOR_PATH,
    Notify,
    active_user,
    codes_page,
    form_text,
    mail_notice,
    notify_of,
    refuse,
    remove_factor,
    write,
)
from stockade.web.accounts.twofactor.webauthn_script import SCRIPT, SCRIPT_PATH
from stockade.web.auth import CurrentUser, csrf_protect
from stockade.web.context import Ctx, origin_of

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])


@router.get(SCRIPT_PATH, include_in_schema=False)
def webauthn_script() -> Response:
    """The script of the security-key forms."""
    return Response(
        SCRIPT,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.post(TWO_FACTOR_PATH + "webauthn/options/", include_in_schema=False)
def key_options(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """The registration challenge (JSON, for the page's script)."""
    rp = relying_party(ctx.settings, ctx.link_base(request))
    # Each call stores a challenge: a burst is refused.
    hit(ctx.db, f"webauthn-options:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT)
    try:
        options = write(
            ctx, lambda s: registration_options(s, active_user(s, identity.user_id), rp)
        )
    except TwoFactorError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    return Response(options, media_type="application/json", headers=NO_STORE)


@router.post(TWO_FACTOR_PATH + "webauthn/register/", include_in_schema=False)
async def key_register(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Keep the browser's new credential as a security key."""
    form = await request.form()
    label, credential = form_text(form, "label"), form_text(form, "credential")
    password = form_text(form, "password")
    rp = relying_party(ctx.settings, ctx.link_base(request))
    origin = origin_of(request)
    # The password is checked: guesses are bounded.
    await run_in_threadpool(
        hit, ctx.db, f"2fa-add:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT
    )

    def run(session: Session) -> tuple[list[str], Notify]:
        user = active_user(session, identity.user_id)
        codes = register_key(
            session,
            user,
            rp,
            label=label,
            credential=credential,
            password=password,
            origin=origin,
        )
        return codes, notify_of(user)

    try:
        codes, notify = await run_in_threadpool(write, ctx, run)
    except TwoFactorError as exc:
        return await refuse(request, ctx, identity.user_id, {"webauthn": str(exc)})
    site = ctx.settings.site_name
    await mail_notice(
        ctx,
        notify,
        lambda u, a: two_factor_added_mail(
            site_name=site, username=u, address=a, method=f"security key “{label.strip()}”"
        ),
    )
    if codes:
        return codes_page(request, codes, first=True)
    return RedirectResponse(f"{TWO_FACTOR_PATH}?done=key-added", status_code=303)


@router.post(TWO_FACTOR_PATH + "webauthn/{key_id}/remove/", include_in_schema=False)
async def key_remove(request: Request, ctx: Ctx, identity: CurrentUser, key_id: int) -> Response:
    """Remove one security key (the password; for the last factor also a code)."""
    origin = origin_of(request)

    def remove(session: Session, user: User, password: str, code: str) -> None:
        remove_webauthn_key(
            session, user, key_id, password=password, code=code, origin=origin, now=ctx.clock()
        )

    return await remove_factor(request, ctx, identity, "webauthn", remove, "key-removed")
