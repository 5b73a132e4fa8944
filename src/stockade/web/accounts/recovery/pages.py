"""Password reset and account recovery pages, and the admin recovery queue."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.responses import Response

from stockade.accounts.flows import find_login_user
from stockade.accounts.forms import EMPTY_NEW_PW, PASSWORDS_DIFFER, check_email, text_field
from stockade.accounts.passwords import password_problem
from stockade.accounts.recovery.mails import (
    RESET_PATH,
    recovery_filed_mail,
    reset_password_changed_mail,
)
from stockade.accounts.recovery.requests import (
    MAX_STATEMENT,
    PROOFS,
    RECOVERY_PER_ACCOUNT,
    RECOVERY_PER_IP,
    Filed,
    file_request,
)
from stockade.accounts.recovery.reset import (
    RESET_REQUESTS_PER_IP,
    PendingReset,
    ResetInvalid,
    check_reset_link,
    complete_reset,
    request_reset,
)
from stockade.db.ratelimit import RateLimited, hit
from stockade.events.services import Origin, record
from stockade.mail import Mailer, deliver
from stockade.web.accounts.recovery.admin import router as admin_router
from stockade.web.accounts.recovery.admin import send_resets
from stockade.web.auth import csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = ["RECOVERY_PATH", "RESET_PATH", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
router.include_router(admin_router)

RECOVERY_PATH = "/account/recovery/"
_NO_STORE = {"Cache-Control": "no-store"}


# -- password reset ---------------------------------------------------------------------------


def _failed(request: Request, message: str) -> Response:
    return render(
        request,
        "accounts/reset_failed.html",
        {"message": message},
        status_code=400,
        headers=_NO_STORE,
    )


@router.get(RESET_PATH, include_in_schema=False)
def reset_page(request: Request, ctx: Ctx, token: str = "") -> Response:
    """Without a token: the "forgot password" form. With one: the new-password form."""
    if not token:
        return render(request, "accounts/reset_request.html", {"username": "", "errors": {}})
    try:
        with ctx.db.read() as session:
            target = check_reset_link(session, token)
    except ResetInvalid as exc:
        return _failed(request, exc.message)
    return render(
        request,
        "accounts/reset_form.html",
        {"token": token, "username": target.username, "errors": {}},
        headers=_NO_STORE,
    )


def _request(ctx: AppContext, typed: str, origin: Origin) -> PendingReset | None:
    hit(ctx.db, f"password-reset:ip:{origin.ip_address or 'unknown'}", RESET_REQUESTS_PER_IP)
    return request_reset(ctx.db, typed, origin=origin)


def _set_password(
    ctx: AppContext, token: str, new: str, confirm: str, origin: Origin
) -> dict[str, str] | str | None:
    """Errors for the form, a message for a dead link (str), or None when done."""
    with ctx.db.read() as session:
        target = check_reset_link(session, token)
    errors: dict[str, str] = {}
    if not new:
        errors["new_password"] = EMPTY_NEW_PW
    elif problem := password_problem(
        new, user_inputs=[target.username, target.full_name or "", *target.addresses]
    ):
        errors["new_password"] = problem
    if new and confirm != new:
        errors["password_confirm"] = PASSWORDS_DIFFER
    if errors:
        return errors
    with ctx.db.write() as session:
        done = complete_reset(session, token, new, origin=origin)
    deliver(
        ctx.mailer,
        *(
            reset_password_changed_mail(
                site_name=ctx.settings.site_name, username=done.username, address=address
            )
            for address in done.notify
        ),
    )
    return None


@router.post(RESET_PATH, include_in_schema=False)
async def reset_submit(request: Request, ctx: Ctx) -> Response:
    """Send a reset link (answering the same whoever is named), or set the new password."""
    form = await request.form()
    token = text_field(form, "token")
    origin = origin_of(request)
    if not token:
        typed = text_field(form, "username")[:254]
        if not typed:
            errors = {"username": "Specify your username or email address."}
            return render(
                request,
                "accounts/reset_request.html",
                {"username": "", "errors": errors},
                status_code=400,
            )
        link_base = ctx.link_base(request)
        pending = await run_in_threadpool(_request, ctx, typed, origin)
        response = render(request, "accounts/reset_sent.html", {"typed": typed})
        if pending is not None:
            # After the answer: how long mail takes must not tell who has an account.
            response.background = BackgroundTask(
                send_resets,
                ctx.mailer,
                ctx.settings.site_name,
                link_base,
                [pending],
                forced=False,
            )
        return response
    new = text_field(form, "new_password", strip=False)
    confirm = text_field(form, "password_confirm", strip=False)
    try:
        outcome = await run_in_threadpool(_set_password, ctx, token, new, confirm, origin)
    except ResetInvalid as exc:
        return _failed(request, exc.message)
    if outcome is not None:

        def link_user() -> str:
            with ctx.db.read() as session:
                return check_reset_link(session, token).username

        try:
            # Off the event loop; the link may have died meanwhile (used, or the password
            # changed in another tab).
            username = await run_in_threadpool(link_user)
        except ResetInvalid as exc:
            return _failed(request, exc.message)
        return render(
            request,
            "accounts/reset_form.html",
            {"token": token, "username": username, "errors": outcome},
            status_code=400,
            headers=_NO_STORE,
        )
    return render(request, "accounts/reset_done.html", {}, headers=_NO_STORE)


# -- account recovery requests ----------------------------------------------------------------


def _blank_recovery() -> dict[str, object]:
    return {
        "account": "",
        "contact_email": "",
        "statement": "",
        "offered": [],
        "proofs": PROOFS,
        "errors": {},
    }


@router.get(RECOVERY_PATH, include_in_schema=False)
def recovery_page(request: Request) -> Response:
    """The recovery request form (for someone who lost every second factor)."""
    return render(request, "accounts/recovery_request.html", _blank_recovery())


def _file(
    ctx: AppContext, account: str, contact: str, proofs: list[str], statement: str, origin: Origin
) -> Filed | None:
    hit(ctx.db, f"recovery:ip:{origin.ip_address or 'unknown'}", RECOVERY_PER_IP)
    with ctx.db.read() as session:
        user = find_login_user(session, account)
        user_id = user.id if user is not None else None
    if user_id is not None:
        try:
            hit(ctx.db, f"recovery:user:{user_id}", RECOVERY_PER_ACCOUNT)
        except RateLimited:
            # Not filed, and the same answer as always: nobody learns the account exists.
            with ctx.db.write() as session:
                record(
                    session,
                    "account:recovery:request:refused",
                    origin=origin,
                    user_id=user_id,
                    reason="rate_limited",
                )
            return None
    try:
        with ctx.db.write() as session:
            return file_request(
                session,
                account,
                contact_email=contact,
                proofs=proofs,
                statement=statement,
                origin=origin,
            )
    except IntegrityError:  # a concurrent request for the same account is already pending
        return None


def _warn_owner(mailer: Mailer, site_name: str, filed: Filed) -> None:
    deliver(
        mailer,
        *(
            recovery_filed_mail(site_name=site_name, username=filed.username, address=address)
            for address in filed.notify
        ),
    )


@router.post(RECOVERY_PATH, include_in_schema=False)
async def recovery_submit(request: Request, ctx: Ctx) -> Response:
    """File a request; the answer is the same whether or not the account exists."""
    form = await request.form()
    account = text_field(form, "account")[:254]
    contact = text_field(form, "contact_email")
    statement = text_field(form, "statement")
    offered = [p for p in form.getlist("proofs") if isinstance(p, str) and p in PROOFS]
    errors: dict[str, str] = {}
    if not account:
        errors["account"] = "Specify the username or an email address of the account."
    if problem := check_email(contact):
        errors["contact_email"] = problem
    if not statement:
        errors["statement"] = "Explain what happened and how you can prove the account is yours."
    elif len(statement) > MAX_STATEMENT:
        errors["statement"] = f"Keep it under {MAX_STATEMENT} characters."
    if errors:
        values = {
            "account": account,
            "contact_email": contact,
            "statement": statement,
            "offered": offered,
            "proofs": PROOFS,
            "errors": errors,
        }
        return render(request, "accounts/recovery_request.html", values, status_code=400)
    filed = await run_in_threadpool(
        _file, ctx, account, contact, offered, statement, origin_of(request)
    )
    response = render(request, "accounts/recovery_filed.html", {"contact_email": contact})
    if filed is not None:
        response.background = BackgroundTask(_warn_owner, ctx.mailer, ctx.settings.site_name, filed)
    return response
