"""The account's two-factor page (``/manage/account/two-factor/``): its factors and recovery
codes, with the forms to add and remove them; and what the forms' handlers (``totp``, ``keys``,
``codes``) share: the page shown again with what was refused, notices by mail, removing a factor.
"""

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

from stockade.accounts.mails import recovery_code_used_mail, two_factor_removed_mail
from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import (
    NEEDS_VERIFIED_EMAIL,
    TwoFactorError,
    require_verified_email,
    two_factor_methods,
)
from stockade.accounts.twofactor.models import WebAuthnKey
from stockade.accounts.twofactor.recovery_codes import remaining_codes
from stockade.db.ratelimit import hit
from stockade.events.services import Origin, record
from stockade.mail import deliver
from stockade.web.accounts.limits import PASSWORD_CHANGE_PER_ACCOUNT
from stockade.web.accounts.twofactor.webauthn_script import SCRIPT_PATH
from stockade.web.auth import CurrentUser, LoginRequired, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = [
    "METHOD_WORDS",
    "NO_STORE",
    "TWO_FACTOR_PATH",
    "Notify",
    "active_user",
    "codes_page",
    "form_text",
    "mail_notice",
    "notify_of",
    "read",
    "record_failure",
    "refuse",
    "remove_factor",
    "router",
    "show",
    "write",
]

router = APIRouter(dependencies=[Depends(csrf_protect)])

TWO_FACTOR_PATH = "/manage/account/two-factor/"
NO_STORE = {"Cache-Control": "no-store"}
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


def active_user(session: Session, user_id: int) -> User:
    """The logged-in user, who must still be active (else: log in again)."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise LoginRequired
    return user


def notify_of(user: User) -> Notify:
    """Who hears of a change of the user's factors."""
    # As for password changes: notices go only to a verified primary address.
    primary = user.verified_primary_email
    return Notify(user.username, primary.email if primary is not None else None)


def _any_verified(user: User) -> str | None:
    # A spent recovery code is told to the verified primary address, else another verified one.
    email = user.any_verified_email
    return email.email if email is not None else None


def read(ctx: AppContext, action: Callable[[Session], T]) -> T:
    """Run ``action`` in a read-only transaction."""
    with ctx.db.read() as session:
        return action(session)


def write(ctx: AppContext, action: Callable[[Session], T]) -> T:
    """Run ``action`` in a write transaction."""
    with ctx.db.write() as session:
        return action(session)


def _page_values(session: Session, user_id: int) -> dict[str, Any]:
    user = active_user(session, user_id)
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


def show(
    request: Request,
    ctx: AppContext,
    user_id: int,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    """The two-factor page, with a notice, or with what was refused (400)."""
    values = read(ctx, lambda s: _page_values(s, user_id))
    return render(
        request,
        "accounts/two_factor.html",
        {**values, "notice": notice, "errors": errors or {}, "script": SCRIPT_PATH},
        status_code=400 if errors else 200,
        headers=NO_STORE,
    )


async def refuse(
    request: Request, ctx: AppContext, user_id: int, errors: dict[str, str]
) -> Response:
    """The page again with what was refused (400); for the async form handlers."""
    return await run_in_threadpool(lambda: show(request, ctx, user_id, errors=errors))


def codes_page(request: Request, codes: list[str], *, first: bool) -> Response:
    """The page that shows new recovery codes, once (``first``: with the first factor)."""
    return render(
        request,
        "accounts/two_factor_codes.html",
        {"codes": codes, "first": first, "back": TWO_FACTOR_PATH},
        headers=NO_STORE,
    )


def form_text(form: FormData, name: str) -> str:
    """A posted text field, or "" when it is missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def mail_notice(ctx: AppContext, notify: Notify, build: Callable[[str, str], Any]) -> None:
    """Send the notice ``build(username, address)`` makes, if there is an address to tell."""
    if notify.address is None:
        return
    message = build(notify.username, notify.address)
    await run_in_threadpool(deliver, ctx.mailer, message)


@router.get(TWO_FACTOR_PATH, include_in_schema=False)
def two_factor_page(
    request: Request, ctx: Ctx, identity: CurrentUser, done: str | None = None
) -> Response:
    """The account's second factors, with the forms to add and remove them."""
    return show(request, ctx, identity.user_id, notice=NOTICES.get(done or ""))


def record_failure(ctx: AppContext, tag: str, user_id: int, origin: Origin, **data: Any) -> None:
    """A refused factor change is an event too; in its own transaction, since the refused
    one was rolled back."""
    with ctx.db.write() as session:
        record(session, tag, origin=origin, actor_id=user_id, user_id=user_id, **data)


async def remove_factor(
    request: Request,
    ctx: AppContext,
    identity: CurrentUser,
    method: str,
    remove: Callable[[Session, User, str, str], int | None],
    done: str,
) -> Response:
    """Remove a factor of ``method`` with the posted password (and code, for the last one):
    ``remove(session, user, password, code)`` returns the recovery codes left when one was
    spent. Attempts are bounded; a refusal is an event; the owner is told by mail."""
    form = await request.form()
    password, code = form_text(form, "password"), form_text(form, "code")
    origin = origin_of(request)
    await run_in_threadpool(
        hit, ctx.db, f"2fa-remove:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT
    )

    def run(session: Session) -> tuple[int | None, Notify, str | None]:
        user = active_user(session, identity.user_id)
        spent = remove(session, user, password, code)
        return spent, notify_of(user), _any_verified(user)

    try:
        spent, notify, fallback = await run_in_threadpool(write, ctx, run)
    except TwoFactorError as exc:
        await run_in_threadpool(
            record_failure,
            ctx,
            "account:two_factor:remove:failure",
            identity.user_id,
            origin,
            method=method,
            reason=str(exc),
        )
        return await refuse(request, ctx, identity.user_id, {method: str(exc)})
    site = ctx.settings.site_name
    if spent is not None and fallback is not None:
        # A recovery code was spent to remove the last factor: say so, as at login.
        message = recovery_code_used_mail(
            site_name=site, username=notify.username, address=fallback, remaining=spent
        )
        await run_in_threadpool(deliver, ctx.mailer, message)
    await mail_notice(
        ctx,
        notify,
        lambda u, a: two_factor_removed_mail(
            site_name=site, username=u, address=a, method=METHOD_WORDS[method]
        ),
    )
    return RedirectResponse(f"{TWO_FACTOR_PATH}?done={done}", status_code=303)
