"""Recovery codes on the two-factor page: a new set, with the password asked again."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.responses import Response

from stockade.accounts.mails import recovery_codes_generated_mail
from stockade.accounts.services import verify_password
from stockade.accounts.twofactor.factors import (
    WRONG_PASSWORD,
    TwoFactorError,
    has_two_factor,
    lock_account,
)
from stockade.accounts.twofactor.recovery_codes import generate_codes
from stockade.db.ratelimit import hit
from stockade.web.accounts.limits import PASSWORD_CHANGE_PER_ACCOUNT
from stockade.web.accounts.twofactor.overview import (
    TWO_FACTOR_PATH,
    Notify,
    active_user,
    codes_page,
    form_text,
    mail_notice,
    notify_of,
    record_failure,
    refuse,
    write,
)
from stockade.web.accounts.twofactor.print_script import PRINT_SCRIPT, PRINT_SCRIPT_PATH
from stockade.web.auth import CurrentUser, csrf_protect
from stockade.web.context import Ctx, origin_of

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])


@router.get(PRINT_SCRIPT_PATH, include_in_schema=False)
def print_script() -> Response:
    """The script of the Print button beside new recovery codes."""
    return Response(
        PRINT_SCRIPT,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.post(TWO_FACTOR_PATH + "recovery-codes/", include_in_schema=False)
async def regenerate_codes(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """A new set of recovery codes (the password is asked again); the old set stops working."""
    password = form_text(await request.form(), "password")
    origin = origin_of(request)
    await run_in_threadpool(
        hit, ctx.db, f"2fa-codes:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT
    )

    def run(session: Session) -> tuple[list[str], Notify]:
        user = active_user(session, identity.user_id)
        lock_account(session, user.id)
        if not has_two_factor(session, user.id):
            raise TwoFactorError("Recovery codes come with a second factor: add one first.")
        if not verify_password(user, password):
            raise TwoFactorError(WRONG_PASSWORD)
        return generate_codes(session, user.id, origin=origin, actor_id=user.id), notify_of(user)

    try:
        codes, notify = await run_in_threadpool(write, ctx, run)
    except TwoFactorError as exc:
        await run_in_threadpool(
            record_failure,
            ctx,
            "account:recovery_codes:generate:failure",
            identity.user_id,
            origin,
            reason=str(exc),
        )
        return await refuse(request, ctx, identity.user_id, {"codes": str(exc)})
    site = ctx.settings.site_name
    await mail_notice(
        ctx,
        notify,
        lambda u, a: recovery_codes_generated_mail(site_name=site, username=u, address=a),
    )
    return codes_page(request, codes, first=False)
