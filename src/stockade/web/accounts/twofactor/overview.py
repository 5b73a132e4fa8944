"""Two-factor pages: enrol TOTP and security keys, recovery codes, the second login step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from stockade.accounts.mails import (
    recovery_code_used_mail,
    recovery_codes_generated_mail,
    two_factor_added_mail,
    two_factor_removed_mail,
)
from stockade.accounts.models import User
from stockade.accounts.services import verify_password
from stockade.accounts.twofactor.factors import (
    NEEDS_VERIFIED_EMAIL,
    WRONG_PASSWORD,
    TwoFactorError,
    confirm_totp,
    has_two_factor,
    lock_account,
    remove_totp,
    remove_webauthn_key,
    require_verified_email,
    start_totp,
    totp_of,
    two_factor_methods,
)
from stockade.accounts.twofactor.models import WebAuthnKey
from stockade.accounts.twofactor.recovery_codes import generate_codes, remaining_codes
from stockade.accounts.twofactor.totp import provisioning_uri, qr_svg
from stockade.accounts.twofactor.webauthn import register_key, registration_options, relying_party
from stockade.db.ratelimit import hit
from stockade.events.services import Origin, record
from stockade.mail import deliver
from stockade.web.accounts.limits import PASSWORD_CHANGE_PER_ACCOUNT
from stockade.web.accounts.twofactor.login import router as login_router
from stockade.web.accounts.twofactor.webauthn_script import SCRIPT, SCRIPT_PATH
from stockade.web.auth import CurrentUser, LoginRequired, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = ["TWO_FACTOR_PATH", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
router.include_router(login_router)

TWO_FACTOR_PATH = "/manage/account/two-factor/"
TOTP_PATH = TWO_FACTOR_PATH + "totp/"
_NO_STORE = {"Cache-Control": "no-store"}
NOTICES = {
    "totp-removed": "The authentication application was removed from your account.",
    "key-removed": "The security key was removed from your account.",
    "totp-added": "Your authentication application is set up.",
    "key-added": "Your security key is registered.",
}
METHOD_WORDS = {"totp": "authentication application (TOTP)", "webauthn": "security key"}

T = TypeVar("T")


@dataclass(frozen=True)
class KeyRow:
    """One security key as the page shows it."""

    id: int
    label: str
    created_at: str
    last_used_at: str | None


@dataclass(frozen=True)
class Notify:
    """Who to tell about a change, after commit (None: no verified primary address)."""

    username: str
    address: str | None


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise LoginRequired
    return user


def _notify(user: User) -> Notify:
    # As for password changes: notices go only to a verified primary address.
    primary = user.primary_email
    return Notify(user.username, primary.email if primary and primary.verified else None)


def _any_verified(user: User) -> str | None:
    # A spent recovery code is told to the verified primary address, else another verified one.
    primary = user.primary_email
    if primary is not None and primary.verified:
        return primary.email
    return next((e.email for e in user.emails if e.verified), None)


def _read(ctx: AppContext, action: Callable[[Session], T]) -> T:
    with ctx.db.read() as session:
        return action(session)


def _write(ctx: AppContext, action: Callable[[Session], T]) -> T:
    with ctx.db.write() as session:
        return action(session)


def _page_values(session: Session, user_id: int) -> dict[str, Any]:
    user = _user(session, user_id)
    keys = session.scalars(
        select(WebAuthnKey).where(WebAuthnKey.user_id == user_id).order_by(WebAuthnKey.id)
    )
    return {
        "username": user.username,
        "methods": two_factor_methods(session, user_id),
        "keys": [
            KeyRow(
                k.id,
                k.label,
                k.created_at.strftime("%Y-%m-%d"),
                k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else None,
            )
            for k in keys
        ],
        "codes_left": remaining_codes(session, user_id),
        "email_verified": _email_verified(session, user_id),
        "needs_email": NEEDS_VERIFIED_EMAIL,
    }


def _email_verified(session: Session, user_id: int) -> bool:
    try:
        require_verified_email(session, user_id)
    except TwoFactorError:
        return False
    return True


def _show(
    request: Request,
    ctx: AppContext,
    user_id: int,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    values = _read(ctx, lambda s: _page_values(s, user_id))
    return render(
        request,
        "accounts/two_factor.html",
        {**values, "notice": notice, "errors": errors or {}, "script": SCRIPT_PATH},
        status_code=400 if errors else 200,
        headers=_NO_STORE,
    )


async def _refuse(
    request: Request, ctx: AppContext, user_id: int, errors: dict[str, str]
) -> Response:
    """The page again with what was refused (400); for the async form handlers."""
    return await run_in_threadpool(lambda: _show(request, ctx, user_id, errors=errors))


def _codes_page(request: Request, codes: list[str], *, first: bool) -> Response:
    return render(
        request,
        "accounts/two_factor_codes.html",
        {"codes": codes, "first": first, "back": TWO_FACTOR_PATH},
        headers=_NO_STORE,
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _mail(ctx: AppContext, notify: Notify, build: Callable[[str, str], Any]) -> None:
    if notify.address is None:
        return
    message = build(notify.username, notify.address)
    await run_in_threadpool(deliver, ctx.mailer, message)


@router.get(SCRIPT_PATH, include_in_schema=False)
def webauthn_script() -> Response:
    """The script of the security-key forms."""
    return Response(
        SCRIPT,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get(TWO_FACTOR_PATH, include_in_schema=False)
def two_factor_page(
    request: Request, ctx: Ctx, identity: CurrentUser, done: str | None = None
) -> Response:
    """The account's second factors, with the forms to add and remove them."""
    return _show(request, ctx, identity.user_id, notice=NOTICES.get(done or ""))


# -- TOTP -------------------------------------------------------------------------------------


@router.post(TOTP_PATH + "start/", include_in_schema=False)
def totp_start(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Begin setting up an authentication app: a new secret, shown on the next page."""
    try:
        _write(ctx, lambda s: start_totp(s, _user(s, identity.user_id)))
    except TwoFactorError as exc:
        return _show(request, ctx, identity.user_id, errors={"totp": str(exc)})
    return RedirectResponse(TOTP_PATH, status_code=303)


def _totp_values(ctx: AppContext, user_id: int) -> dict[str, Any] | None:
    def read(session: Session) -> dict[str, Any] | None:
        user = _user(session, user_id)
        row = totp_of(session, user_id, confirmed=False)
        if row is None or row.confirmed_at is not None:
            return None
        uri = provisioning_uri(row.secret, account=user.username, issuer=ctx.settings.site_name)
        spaced = " ".join(row.secret[i : i + 4] for i in range(0, len(row.secret), 4))
        return {"secret": spaced, "qr": qr_svg(uri), "uri": uri}

    return _read(ctx, read)


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
        headers=_NO_STORE,
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
    code, password = _text(form, "code"), _text(form, "password")
    origin = origin_of(request)
    await run_in_threadpool(
        hit, ctx.db, f"2fa:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT
    )

    def run(session: Session) -> tuple[list[str], Notify]:
        user = _user(session, identity.user_id)
        codes = confirm_totp(session, user, code, password=password, origin=origin)
        return codes, _notify(user)

    try:
        codes, notify = await run_in_threadpool(_write, ctx, run)
    except TwoFactorError as exc:
        return await run_in_threadpool(_totp_page, request, ctx, identity.user_id, str(exc))
    site = ctx.settings.site_name
    await _mail(
        ctx,
        notify,
        lambda u, a: two_factor_added_mail(
            site_name=site, username=u, address=a, method=METHOD_WORDS["totp"]
        ),
    )
    if codes:
        return _codes_page(request, codes, first=True)
    return RedirectResponse(f"{TWO_FACTOR_PATH}?done=totp-added", status_code=303)


def _record_failure(ctx: AppContext, tag: str, user_id: int, origin: Origin, **data: Any) -> None:
    """A refused factor change is an event too; in its own transaction, since the refused
    one was rolled back."""
    with ctx.db.write() as session:
        record(session, tag, origin=origin, actor_id=user_id, user_id=user_id, **data)


async def _removal(
    request: Request,
    ctx: AppContext,
    identity: CurrentUser,
    method: str,
    remove: Callable[[Session, User, str, str], int | None],
    done: str,
) -> Response:
    form = await request.form()
    password, code = _text(form, "password"), _text(form, "code")
    origin = origin_of(request)
    await run_in_threadpool(
        hit, ctx.db, f"2fa-remove:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT
    )

    def run(session: Session) -> tuple[int | None, Notify, str | None]:
        user = _user(session, identity.user_id)
        spent = remove(session, user, password, code)
        return spent, _notify(user), _any_verified(user)

    try:
        spent, notify, fallback = await run_in_threadpool(_write, ctx, run)
    except TwoFactorError as exc:
        await run_in_threadpool(
            _record_failure,
            ctx,
            "account:two_factor:remove:failure",
            identity.user_id,
            origin,
            method=method,
            reason=str(exc),
        )
        return await _refuse(request, ctx, identity.user_id, {method: str(exc)})
    site = ctx.settings.site_name
    if spent is not None and fallback is not None:
        # A recovery code was spent to remove the last factor: say so, as at login.
        message = recovery_code_used_mail(
            site_name=site, username=notify.username, address=fallback, remaining=spent
        )
        await run_in_threadpool(deliver, ctx.mailer, message)
    await _mail(
        ctx,
        notify,
        lambda u, a: two_factor_removed_mail(
            site_name=site, username=u, address=a, method=METHOD_WORDS[method]
        ),
    )
    return RedirectResponse(f"{TWO_FACTOR_PATH}?done={done}", status_code=303)


@router.post(TOTP_PATH + "remove/", include_in_schema=False)
async def totp_remove(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Remove the authentication app (the password; for the last factor also a code)."""
    origin = origin_of(request)
    return await _removal(
        request,
        ctx,
        identity,
        "totp",
        lambda s, u, p, c: remove_totp(s, u, password=p, code=c, origin=origin),
        "totp-removed",
    )


# -- security keys ----------------------------------------------------------------------------


@router.post(TWO_FACTOR_PATH + "webauthn/options/", include_in_schema=False)
def key_options(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """The registration challenge (JSON, for the page's script)."""
    rp = relying_party(ctx.settings, ctx.link_base(request))
    # Each call stores a challenge: a burst is refused.
    hit(ctx.db, f"webauthn-options:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT)
    try:
        options = _write(ctx, lambda s: registration_options(s, _user(s, identity.user_id), rp))
    except TwoFactorError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    return Response(options, media_type="application/json", headers=_NO_STORE)


@router.post(TWO_FACTOR_PATH + "webauthn/register/", include_in_schema=False)
async def key_register(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Keep the browser's new credential as a security key."""
    form = await request.form()
    label, credential = _text(form, "label"), _text(form, "credential")
    password = _text(form, "password")
    rp = relying_party(ctx.settings, ctx.link_base(request))
    origin = origin_of(request)
    # The password is checked: guesses are bounded.
    await run_in_threadpool(
        hit, ctx.db, f"2fa-add:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT
    )

    def run(session: Session) -> tuple[list[str], Notify]:
        user = _user(session, identity.user_id)
        codes = register_key(
            session,
            user,
            rp,
            label=label,
            credential=credential,
            password=password,
            origin=origin,
        )
        return codes, _notify(user)

    try:
        codes, notify = await run_in_threadpool(_write, ctx, run)
    except TwoFactorError as exc:
        return await _refuse(request, ctx, identity.user_id, {"webauthn": str(exc)})
    site = ctx.settings.site_name
    await _mail(
        ctx,
        notify,
        lambda u, a: two_factor_added_mail(
            site_name=site, username=u, address=a, method=f"security key “{label.strip()}”"
        ),
    )
    if codes:
        return _codes_page(request, codes, first=True)
    return RedirectResponse(f"{TWO_FACTOR_PATH}?done=key-added", status_code=303)


@router.post(TWO_FACTOR_PATH + "webauthn/{key_id}/remove/", include_in_schema=False)
async def key_remove(request: Request, ctx: Ctx, identity: CurrentUser, key_id: int) -> Response:
    """Remove one security key (the password; for the last factor also a code)."""
    origin = origin_of(request)

    def remove(session: Session, user: User, password: str, code: str) -> None:
        remove_webauthn_key(session, user, key_id, password=password, code=code, origin=origin)

    return await _removal(request, ctx, identity, "webauthn", remove, "key-removed")


# -- recovery codes ---------------------------------------------------------------------------


@router.post(TWO_FACTOR_PATH + "recovery-codes/", include_in_schema=False)
async def regenerate_codes(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """A new set of recovery codes (the password is asked again); the old set stops working."""
    password = _text(await request.form(), "password")
    origin = origin_of(request)
    await run_in_threadpool(
        hit, ctx.db, f"2fa-codes:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT
    )

    def run(session: Session) -> tuple[list[str], Notify]:
        user = _user(session, identity.user_id)
        lock_account(session, user.id)
        if not has_two_factor(session, user.id):
            raise TwoFactorError("Recovery codes come with a second factor: add one first.")
        if not verify_password(user, password):
            raise TwoFactorError(WRONG_PASSWORD)
        return generate_codes(session, user.id, origin=origin, actor_id=user.id), _notify(user)

    try:
        codes, notify = await run_in_threadpool(_write, ctx, run)
    except TwoFactorError as exc:
        await run_in_threadpool(
            _record_failure,
            ctx,
            "account:recovery_codes:generate:failure",
            identity.user_id,
            origin,
            reason=str(exc),
        )
        return await _refuse(request, ctx, identity.user_id, {"codes": str(exc)})
    site = ctx.settings.site_name
    await _mail(
        ctx,
        notify,
        lambda u, a: recovery_codes_generated_mail(site_name=site, username=u, address=a),
    )
    return _codes_page(request, codes, first=False)
