"""Account settings pages: profile, email addresses, password, security history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from stockade.accounts import manage
from stockade.accounts.flows import EMAIL_IN_USE
from stockade.accounts.forms import check_email, check_full_name, parse_password_form, text_field
from stockade.accounts.mails import password_changed_mail, primary_changed_mail
from stockade.accounts.models import User
from stockade.db.ratelimit import hit
from stockade.index.history import user_events
from stockade.mail import deliver
from stockade.web.accounts.limits import PASSWORD_CHANGE_PER_ACCOUNT, VERIFY_MAIL_PER_ACCOUNT
from stockade.web.accounts.login import send_verification
from stockade.web.auth import POLICY, CurrentUser, LoginRequired, csrf_protect, set_session_cookie
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = ["ACCOUNT_PATH", "HISTORY_PATH", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

ACCOUNT_PATH = "/manage/account/"
HISTORY_PATH = ACCOUNT_PATH + "history/"
RECENT_EVENTS = 10
_NO_STORE = {"Cache-Control": "no-store"}
# Confirmations after a redirect: fixed texts (nothing from the URL is shown but an address
# of the user's own, looked up by id).
NOTICES = {
    "profile": "Your profile was updated.",
    "email-added": "Email {email} added - check your email for a verification link.",
    "email-sent": "Verification email for {email} resent.",
    "mail-failed": "The verification email for {email} could not be sent just now. "
    "Try again later with “Resend verification email”.",
    "primary": "Email address {email} set as primary.",
    "removed": "The email address was removed.",
    "password": "Your password was changed. Every other session of your account was logged out.",
}

T = TypeVar("T")


@dataclass(frozen=True)
class EmailRow:
    """One address as the settings page shows it."""

    id: int
    email: str
    primary: bool
    verified: bool


def _page(session: Session, user_id: int) -> dict[str, Any]:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise LoginRequired
    return {
        "user": {"username": user.username, "full_name": user.full_name or ""},
        "emails": [EmailRow(e.id, e.email, e.primary, e.verified) for e in user.emails],
        "events": user_events(session, user_id, limit=RECENT_EVENTS),
    }


def _notice(done: str | None, email_id: int | None, emails: list[EmailRow]) -> str | None:
    text = NOTICES.get(done or "")
    if text is None or "{email}" not in text:
        return text
    email = next((e.email for e in emails if e.id == email_id), None)
    return text.format(email=email) if email else None


def _show(
    request: Request,
    ctx: AppContext,
    user_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    notice: str | None = None,
    email_id: int | None = None,
    status_code: int = 200,
) -> Response:
    with ctx.db.read() as session:
        page = _page(session, user_id)
    return render(
        request,
        "accounts/settings.html",
        {
            **page,
            "errors": errors or {},
            "values": values or {},
            "notice": _notice(notice, email_id, page["emails"]),
            "history_path": HISTORY_PATH,
        },
        status_code=status_code,
        headers=_NO_STORE,
    )


async def _refuse(
    request: Request,
    ctx: AppContext,
    user_id: int,
    errors: dict[str, str],
    values: dict[str, str] | None = None,
) -> Response:
    """The settings page again, with what was refused (400); for the async form handlers."""
    return await run_in_threadpool(
        lambda: _show(request, ctx, user_id, errors=errors, values=values, status_code=400)
    )


def _done(notice: str, email_id: int | None = None) -> Response:
    query = {"done": notice, **({"email": str(email_id)} if email_id is not None else {})}
    return RedirectResponse(f"{ACCOUNT_PATH}?{urlencode(query)}", status_code=303)


def _write(ctx: AppContext, action: Callable[[Session], T]) -> T:
    """Run one settings change in a transaction; a disabled account is sent to log in."""
    try:
        with ctx.db.write() as session:
            return action(session)
    except manage.InactiveUser:
        raise LoginRequired from None


def _email_id(form: FormData) -> int:
    try:
        return int(text_field(form, "email_id"))
    except ValueError:
        raise manage.SettingsError("email", "Email address not found.") from None


@router.get(ACCOUNT_PATH, include_in_schema=False)
def account_settings(
    request: Request,
    ctx: Ctx,
    identity: CurrentUser,
    done: str | None = None,
    email: str | None = None,
) -> Response:
    """Profile, email addresses, password, API tokens and recent security history."""
    email_id = int(email) if email and email.isdigit() else None
    return _show(request, ctx, identity.user_id, notice=done, email_id=email_id)


@router.get(HISTORY_PATH, include_in_schema=False)
def account_history(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Everything security-relevant that happened to the account, newest first."""
    with ctx.db.read() as session:
        events = user_events(session, identity.user_id)
    return render(request, "accounts/history.html", {"events": events}, headers=_NO_STORE)


@router.post(ACCOUNT_PATH + "profile/", include_in_schema=False)
async def update_profile(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Change the full name."""
    full_name = text_field(await request.form(), "full_name")
    if problem := check_full_name(full_name):
        return await _refuse(
            request, ctx, identity.user_id, {"full_name": problem}, {"full_name": full_name}
        )
    await run_in_threadpool(
        _write, ctx, lambda s: manage.update_profile(s, identity.user_id, full_name=full_name)
    )
    return _done("profile")


@router.post(ACCOUNT_PATH + "emails/add/", include_in_schema=False)
async def add_email(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Add an address and mail it a verification link."""
    address = text_field(await request.form(), "email")
    link_base = ctx.link_base(request)
    problem = check_email(address)
    if problem is None:
        await run_in_threadpool(
            hit, ctx.db, f"verify-mail:user:{identity.user_id}", VERIFY_MAIL_PER_ACCOUNT
        )
        origin = origin_of(request)
        try:
            pending = await run_in_threadpool(
                _write, ctx, lambda s: manage.add_email(s, identity.user_id, address, origin=origin)
            )
        except manage.SettingsError as exc:
            problem = exc.message
        except IntegrityError:
            problem = EMAIL_IN_USE
    if problem is not None:
        return await _refuse(
            request, ctx, identity.user_id, {"add_email": problem}, {"email": address}
        )
    sent = await run_in_threadpool(send_verification, ctx, link_base, pending)
    return _done("email-added" if sent else "mail-failed", pending.email_id)


async def _email_action(
    request: Request,
    ctx: AppContext,
    user_id: int,
    action: Callable[[Session, int], T],
) -> tuple[int, T] | Response:
    """Run ``action`` on the posted ``email_id``; the settings page with the error on refusal."""
    form = await request.form()
    try:
        email_id = _email_id(form)
        result = await run_in_threadpool(_write, ctx, lambda s: action(s, email_id))
    except manage.SettingsError as exc:
        return await _refuse(request, ctx, user_id, {"emails": exc.message})
    return email_id, result


@router.post(ACCOUNT_PATH + "emails/resend/", include_in_schema=False)
async def resend_verification(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Mail a new verification link for an unverified address."""
    link_base = ctx.link_base(request)
    await run_in_threadpool(
        hit, ctx.db, f"verify-mail:user:{identity.user_id}", VERIFY_MAIL_PER_ACCOUNT
    )
    outcome = await _email_action(
        request,
        ctx,
        identity.user_id,
        lambda s, email_id: manage.resend_verification(s, identity.user_id, email_id),
    )
    if isinstance(outcome, Response):
        return outcome
    email_id, pending = outcome
    sent = await run_in_threadpool(send_verification, ctx, link_base, pending)
    return _done("email-sent" if sent else "mail-failed", email_id)


@router.post(ACCOUNT_PATH + "emails/primary/", include_in_schema=False)
async def make_primary(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Make a verified address the primary one; the previous one is told."""
    origin = origin_of(request)
    outcome = await _email_action(
        request,
        ctx,
        identity.user_id,
        lambda s, email_id: manage.make_primary(s, identity.user_id, email_id, origin=origin),
    )
    if isinstance(outcome, Response):
        return outcome
    email_id, changed = outcome
    if changed.previous is not None:
        message = primary_changed_mail(
            site_name=ctx.settings.site_name,
            username=changed.username,
            address=changed.previous,
            new_address=changed.address,
        )
        await run_in_threadpool(deliver, ctx.mailer, message)
    return _done("primary", email_id)


@router.post(ACCOUNT_PATH + "emails/remove/", include_in_schema=False)
async def remove_email(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Remove an address that is neither the primary nor the only one."""
    origin = origin_of(request)
    outcome = await _email_action(
        request,
        ctx,
        identity.user_id,
        lambda s, email_id: manage.remove_email(s, identity.user_id, email_id, origin=origin),
    )
    if isinstance(outcome, Response):
        return outcome
    return _done("removed")


@router.post(ACCOUNT_PATH + "password/", include_in_schema=False)
async def change_password(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Change the password: new session here, every other session ended, primary told."""
    await run_in_threadpool(
        hit, ctx.db, f"password-change:user:{identity.user_id}", PASSWORD_CHANGE_PER_ACCOUNT
    )
    form = await request.form()
    user_inputs = await run_in_threadpool(_user_inputs, ctx, identity.user_id)
    # zxcvbn takes a few milliseconds of CPU: not on the event loop.
    posted = await run_in_threadpool(lambda: parse_password_form(form, user_inputs=user_inputs))
    origin = origin_of(request)
    changed = None
    if not posted.errors:
        try:
            changed = await run_in_threadpool(
                _write,
                ctx,
                lambda s: manage.change_password(
                    s, identity.user_id, posted, origin=origin, policy=POLICY
                ),
            )
        except manage.SettingsError as exc:
            posted.errors[exc.field] = exc.message
    if changed is None:
        errors = {f"pw_{field}": message for field, message in posted.errors.items()}
        return await _refuse(request, ctx, identity.user_id, errors)
    if changed.notify is not None:
        message = password_changed_mail(
            site_name=ctx.settings.site_name, username=changed.username, address=changed.notify
        )
        await run_in_threadpool(deliver, ctx.mailer, message)
    response = _done("password")
    set_session_cookie(request, response, changed.cookie)
    return response


def _user_inputs(ctx: AppContext, user_id: int) -> list[str]:
    """What the new password must not be built from."""
    with ctx.db.read() as session:
        user = session.get(User, user_id)
        if user is None:
            raise LoginRequired
        return [user.username, user.full_name or "", *(e.email for e in user.emails)]
