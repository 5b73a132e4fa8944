"""The second login step: a TOTP code, a security key or a recovery code, and the mailed
confirmation of a login from a new IP address."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from stockade.accounts.mails import login_confirmation_mail, recovery_code_used_mail
from stockade.accounts.onetime import TokenInvalid
from stockade.accounts.twofactor.factors import TwoFactorError, two_factor_methods
from stockade.accounts.twofactor.login import (
    CONFIRM_LIFETIME,
    SECOND_FACTOR_PER_ACCOUNT,
    LoginOutcome,
    complete_login,
    confirm_failed,
    confirm_login,
    load_pending,
    login_with_recovery_code,
    login_with_totp,
)
from stockade.accounts.twofactor.webauthn import (
    authentication_options,
    check_key_login,
    relying_party,
)
from stockade.db.ratelimit import hit
from stockade.events.services import Origin
from stockade.mail import deliver
from stockade.web.accounts.limits import LOGIN_PER_IP
from stockade.web.accounts.login import AFTER_LOGIN, LOGIN_PATH
from stockade.web.accounts.twofactor.pending import (
    CONFIRM_PATH,
    PENDING_COOKIE,
    SECOND_STEP_PATH,
    clear_pending_cookie,
)
from stockade.web.auth import POLICY, MaybeUser, csrf_protect, set_session_cookie
from stockade.web.context import UNKNOWN_HOST, AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

_NO_STORE = {"Cache-Control": "no-store"}
EXPIRED = "Your login has expired. Log in again with your password."
INVALID_TOTP = "Invalid TOTP code. Check the time on your device and try again."
INVALID_RECOVERY = "Invalid recovery code: it is wrong or was already used."
CONFIRM_INVALID = (
    "This confirmation link is invalid, expired or already used, or it was opened in another "
    "browser than the one you logged in with. Log in again."
)


def _pending_view(ctx: AppContext, secret: str | None) -> dict[str, object] | None:
    with ctx.db.read() as session:
        pending = load_pending(session, secret)
        if pending is None:
            return None
        if pending.method is not None:
            # The second factor passed and the confirmation link was mailed: keep the login
            # (and its cookie) for the link, whatever is refreshed or posted twice meanwhile.
            return {"waiting": True}
        return {"methods": two_factor_methods(session, pending.user_id)}


def _page(request: Request, ctx: AppContext, *, error: str | None = None) -> Response:
    view = _pending_view(ctx, request.cookies.get(PENDING_COOKIE))
    if view is None:
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        clear_pending_cookie(request, response)
        return response
    if view.get("waiting"):
        return render(
            request,
            "accounts/login_confirm.html",
            {"stage": "sent", "sent": True, "address": None},
            headers=_NO_STORE,
        )
    return render(
        request,
        "accounts/login_two_factor.html",
        {**view, "error": error},
        status_code=400 if error else 200,
        headers=_NO_STORE,
    )


@router.get(SECOND_STEP_PATH, include_in_schema=False)
def second_step_page(request: Request, ctx: Ctx) -> Response:
    """The second login step: the forms for the account's factors."""
    return _page(request, ctx)


def _limit(ctx: AppContext, origin: Origin, secret: str | None) -> int | None:
    """Count an attempt (per IP address and per account); the pending login's user id."""
    hit(ctx.db, f"login:ip:{origin.ip_address or 'unknown'}", LOGIN_PER_IP)
    with ctx.db.read() as session:
        pending = load_pending(session, secret)
        user_id = pending.user_id if pending is not None and pending.method is None else None
    if user_id is not None:
        hit(ctx.db, f"2fa:user:{user_id}", SECOND_FACTOR_PER_ACCOUNT)
    return user_id


def _send_after(ctx: AppContext, base_url: str | None, outcome: LoginOutcome) -> bool:
    """The mail a second step causes, after commit. False if the confirmation was not sent."""
    site = ctx.settings.site_name
    sent = True
    if outcome.recovery_remaining is not None and outcome.notify:
        deliver(
            ctx.mailer,
            recovery_code_used_mail(
                site_name=site,
                username=outcome.username,
                address=outcome.notify,
                remaining=outcome.recovery_remaining,
            ),
        )
    if outcome.cookie is None:
        if outcome.confirm_secret is None or outcome.confirm_address is None:
            return False
        if base_url is None:
            raise HTTPException(status_code=421, detail=UNKNOWN_HOST)
        sent = deliver(
            ctx.mailer,
            login_confirmation_mail(
                site_name=site,
                username=outcome.username,
                address=outcome.confirm_address,
                link=f"{base_url}{CONFIRM_PATH}?token={outcome.confirm_secret}",
                ip_address=outcome.ip_address or "unknown",
                minutes=int(CONFIRM_LIFETIME.total_seconds() // 60),
            ),
        )
    return sent


def _link_base(request: Request, ctx: AppContext) -> str | None:
    """The base of mailed links, or None when this request's host must not be linked to."""
    try:
        return ctx.link_base(request)
    except HTTPException:
        return None


async def _finish(request: Request, ctx: AppContext, outcome: LoginOutcome) -> Response:
    sent = await run_in_threadpool(_send_after, ctx, _link_base(request, ctx), outcome)
    if outcome.cookie is None:
        return render(
            request,
            "accounts/login_confirm.html",
            {"stage": "sent", "sent": sent, "address": outcome.confirm_address},
            headers=_NO_STORE,
        )
    response = RedirectResponse(outcome.next_path or AFTER_LOGIN, status_code=303)
    set_session_cookie(request, response, outcome.cookie)
    clear_pending_cookie(request, response)
    return response


def _with_code(
    ctx: AppContext, origin: Origin, secret: str | None, previous: str | None, kind: str, code: str
) -> LoginOutcome | str:
    if _limit(ctx, origin, secret) is None:
        return EXPIRED
    with ctx.db.write() as session:
        pending = load_pending(session, secret, for_update=True)
        if pending is None or pending.method is not None:
            return EXPIRED
        if kind == "totp":
            outcome = login_with_totp(
                session,
                pending,
                code,
                origin=origin,
                policy=POLICY,
                previous_session=previous,
                now=ctx.clock(),
            )
        else:
            outcome = login_with_recovery_code(
                session, pending, code, origin=origin, policy=POLICY, previous_session=previous
            )
    if outcome is None:
        return INVALID_TOTP if kind == "totp" else INVALID_RECOVERY
    return outcome


async def _code_step(
    request: Request, ctx: AppContext, previous: str | None, kind: str
) -> Response:
    form = await request.form()
    code = form.get("code")
    secret = request.cookies.get(PENDING_COOKIE)
    result = await run_in_threadpool(
        _with_code,
        ctx,
        origin_of(request),
        secret,
        previous,
        kind,
        code if isinstance(code, str) else "",
    )
    if result == EXPIRED:
        return await run_in_threadpool(_page, request, ctx)
    if isinstance(result, str):
        return await run_in_threadpool(lambda: _page(request, ctx, error=result))
    return await _finish(request, ctx, result)


@router.post(SECOND_STEP_PATH + "totp/", include_in_schema=False)
async def second_step_totp(request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """Finish logging in with a code of the authentication app."""
    previous = identity.session_id if identity is not None else None
    return await _code_step(request, ctx, previous, "totp")


@router.post(SECOND_STEP_PATH + "recovery-code/", include_in_schema=False)
async def second_step_recovery(request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """Finish logging in with a recovery code (each works once)."""
    previous = identity.session_id if identity is not None else None
    return await _code_step(request, ctx, previous, "recovery")


@router.post(SECOND_STEP_PATH + "webauthn/options/", include_in_schema=False)
def second_step_key_options(request: Request, ctx: Ctx) -> Response:
    """The challenge for the account's security keys (JSON, for the page's script)."""
    rp = relying_party(ctx.settings, ctx.link_base(request))
    secret = request.cookies.get(PENDING_COOKIE)
    with ctx.db.read() as session:
        pending = load_pending(session, secret)
        user_id = pending.user_id if pending is not None else None
    if user_id is not None:
        # Each call stores a challenge: bounded like the attempts themselves.
        hit(ctx.db, f"2fa-options:user:{user_id}", SECOND_FACTOR_PER_ACCOUNT)
    try:
        with ctx.db.write() as session:
            pending = load_pending(session, secret)
            if pending is None or pending.method is not None:
                return Response(EXPIRED, status_code=400, media_type="text/plain")
            options = authentication_options(session, pending, rp)
    except TwoFactorError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    return Response(options, media_type="application/json", headers=_NO_STORE)


def _with_key(
    ctx: AppContext,
    base_url: str,
    origin: Origin,
    secret: str | None,
    previous: str | None,
    credential: str,
) -> LoginOutcome | str:
    if _limit(ctx, origin, secret) is None:
        return EXPIRED
    rp = relying_party(ctx.settings, base_url)
    with ctx.db.write() as session:
        pending = load_pending(session, secret, for_update=True)
        if pending is None or pending.method is not None:
            return EXPIRED
        try:
            check_key_login(session, pending, rp, credential, origin=origin)
        except TwoFactorError as exc:
            # Committed all the same: the failure event, and the spent challenge.
            return str(exc)
        return complete_login(
            session,
            pending,
            method="webauthn",
            origin=origin,
            policy=POLICY,
            previous_session=previous,
        )


@router.post(SECOND_STEP_PATH + "webauthn/", include_in_schema=False)
async def second_step_key(request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """Finish logging in with a security key's answer (posted by the page's script)."""
    form = await request.form()
    credential = form.get("credential")
    result = await run_in_threadpool(
        _with_key,
        ctx,
        ctx.link_base(request),
        origin_of(request),
        request.cookies.get(PENDING_COOKIE),
        identity.session_id if identity is not None else None,
        credential if isinstance(credential, str) else "",
    )
    if result == EXPIRED:
        return await run_in_threadpool(_page, request, ctx)
    if isinstance(result, str):
        return await run_in_threadpool(lambda: _page(request, ctx, error=result))
    return await _finish(request, ctx, result)


# -- confirmation of a login from a new IP address --------------------------------------------


@router.get(CONFIRM_PATH, include_in_schema=False)
def confirm_page(request: Request, token: str = "") -> Response:
    """The link of a confirmation mail: a button (a link alone must not log anyone in, since
    mail scanners open links)."""
    return render(
        request,
        "accounts/login_confirm.html",
        {"stage": "confirm", "token": token},
        headers=_NO_STORE,
    )


@router.post(CONFIRM_PATH, include_in_schema=False)
async def confirm_submit(request: Request, ctx: Ctx) -> Response:
    """Finish a login confirmed by its mailed link, in the browser that holds the login."""
    form = await request.form()
    token = form.get("token")
    origin = origin_of(request)
    secret = request.cookies.get(PENDING_COOKIE)

    def run() -> LoginOutcome | None:
        try:
            with ctx.db.write() as session:
                return confirm_login(
                    session,
                    secret,
                    token if isinstance(token, str) else "",
                    origin=origin,
                    policy=POLICY,
                )
        except TokenInvalid:
            link = token if isinstance(token, str) else ""
            with ctx.db.write() as session:
                confirm_failed(session, secret, link, origin=origin)
            return None

    outcome = await run_in_threadpool(run)
    if outcome is None:
        return render(
            request,
            "accounts/login_confirm.html",
            {"stage": "failed", "message": CONFIRM_INVALID},
            status_code=400,
            headers=_NO_STORE,
        )
    return await _finish(request, ctx, outcome)
