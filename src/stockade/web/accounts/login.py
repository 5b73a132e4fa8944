"""Public account pages: register, verify an email address, log in, log out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from starlette.responses import RedirectResponse, Response

from stockade.accounts.email_domains.check import DomainUntrusted
from stockade.accounts.flows import (
    VERIFY_LIFETIME,
    PendingVerification,
    SecondFactorNeeded,
    find_login_user,
    log_in,
    register,
    verify_email,
)
from stockade.accounts.forms import (
    LoginForm,
    RegisterForm,
    parse_login_form,
    parse_register_form,
    safe_next,
)
from stockade.accounts.mails import VERIFY_PATH, verification_link, verification_mail
from stockade.accounts.models import UserSession
from stockade.accounts.onetime import TokenInvalid, TokenProblem
from stockade.accounts.services import AccountError
from stockade.accounts.sessions import end_session
from stockade.db.ratelimit import RateLimited, hit
from stockade.events.services import Origin, record
from stockade.mail import deliver
from stockade.web.accounts.limits import LOGIN_PER_ACCOUNT, LOGIN_PER_IP, REGISTER_PER_IP
from stockade.web.accounts.twofactor.pending import second_step_redirect
from stockade.web.auth import (
    POLICY,
    MaybeUser,
    clear_session_cookie,
    csrf_protect,
    set_session_cookie,
)
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = [
    "AFTER_LOGIN",
    "LOGIN_PATH",
    "LOGOUT_PATH",
    "REGISTER_PATH",
    "router",
    "send_verification",
]

router = APIRouter(dependencies=[Depends(csrf_protect)])

REGISTER_PATH = "/account/register/"
LOGIN_PATH = "/account/login/"
LOGOUT_PATH = "/account/logout/"
# Where PyPI sends people after logging in.
AFTER_LOGIN = "/manage/projects/"
# One message for every failure, so the form does not tell which usernames exist or which
# accounts are disabled (the account's security history does tell its owner).
LOGIN_FAILED = "The username or password is invalid. Try again."
VERIFY_PROBLEMS = {
    TokenProblem.INVALID: "Invalid token: request a new email verification link.",
    TokenProblem.EXPIRED: "Expired token: request a new email verification link.",
    TokenProblem.USED: "This link has already been used. If the address is still unverified, "
    "request a new email verification link.",
    TokenProblem.WRONG_PURPOSE: "Invalid token: not an email verification token.",
}
_NO_STORE = {"Cache-Control": "no-store"}


def send_verification(ctx: AppContext, base_url: str, pending: PendingVerification) -> bool:
    """Mail a verification link (after the transaction that issued it has committed)."""
    message = verification_mail(
        site_name=ctx.settings.site_name,
        username=pending.username,
        address=pending.address,
        link=verification_link(base_url, pending.secret),
        hours=int(VERIFY_LIFETIME.total_seconds() // 3600),
    )
    return deliver(ctx.mailer, message)


def _ip_key(prefix: str, origin: Origin) -> str:
    return f"{prefix}:ip:{origin.ip_address or 'unknown'}"


# -- registration ---------------------------------------------------------------------------


@router.get(REGISTER_PATH, include_in_schema=False)
def register_page(request: Request, identity: MaybeUser) -> Response:
    """The registration form."""
    if identity is not None:
        return RedirectResponse("/", status_code=303)
    return render(request, "accounts/register.html", {"form": RegisterForm()})


def _register(ctx: AppContext, posted: RegisterForm, origin: Origin) -> PendingVerification | None:
    try:
        with ctx.db.write() as session:
            return register(session, posted, origin=origin)
    except IntegrityError:
        # Another registration took the name or the address between our check and our insert.
        posted.errors["username"] = (
            "This username or email address was just taken by another account. "
            "Choose a different one."
        )
    except AccountError as exc:
        posted.errors["form"] = str(exc)
    return None


@router.post(REGISTER_PATH, include_in_schema=False)
async def register_submit(request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """Create an account (its address unverified) and mail the verification link."""
    if identity is not None:
        return RedirectResponse("/", status_code=303)
    origin = origin_of(request)
    await run_in_threadpool(hit, ctx.db, _ip_key("register", origin), REGISTER_PER_IP)
    # zxcvbn takes a few milliseconds of CPU: not on the event loop.
    posted = await run_in_threadpool(parse_register_form, await request.form())
    pending = None
    link_base = ctx.link_base(request)
    if not posted.errors:
        pending = await run_in_threadpool(_register, ctx, posted, origin)
    if pending is None:
        return render(request, "accounts/register.html", {"form": posted}, status_code=400)
    sent = await run_in_threadpool(send_verification, ctx, link_base, pending)
    return render(
        request,
        "accounts/registered.html",
        {"username": pending.username, "address": pending.address, "sent": sent},
    )


# -- email verification ---------------------------------------------------------------------


@router.get(VERIFY_PATH, include_in_schema=False)
def verify_email_link(request: Request, ctx: Ctx, identity: MaybeUser, token: str = "") -> Response:
    """The link of a verification mail: the address becomes verified (once)."""
    try:
        with ctx.db.write() as session:
            result = verify_email(session, token, origin=origin_of(request))
    except TokenInvalid as exc:
        return render(
            request,
            "accounts/verify_failed.html",
            {"message": VERIFY_PROBLEMS[exc.problem]},
            status_code=400,
            headers=_NO_STORE,
        )
    except DomainUntrusted as exc:
        return render(
            request,
            "accounts/verify_failed.html",
            {"message": exc.message},
            status_code=400,
            headers=_NO_STORE,
        )
    return render(request, "accounts/verified.html", {"result": result}, headers=_NO_STORE)


# -- login and logout -----------------------------------------------------------------------


@router.get(LOGIN_PATH, include_in_schema=False)
def login_page(request: Request, identity: MaybeUser, next: str | None = None) -> Response:
    """The login form; ``next`` (a path on this site) is where to go afterwards."""
    target = safe_next(next)
    if identity is not None:
        return RedirectResponse(target or AFTER_LOGIN, status_code=303)
    return render(request, "accounts/login.html", {"form": LoginForm(next=target)})


def _login(
    ctx: AppContext, posted: LoginForm, origin: Origin, previous: str | None
) -> str | SecondFactorNeeded | None:
    hit(ctx.db, _ip_key("login", origin), LOGIN_PER_IP)
    if posted.errors:
        return None
    with ctx.db.read() as session:
        user = find_login_user(session, posted.username)
        user_id = user.id if user is not None else None
    key = f"login:user:{user_id}" if user_id else f"login:name:{posted.username.lower()[:100]}"
    try:
        hit(ctx.db, key, LOGIN_PER_ACCOUNT)
    except RateLimited:
        if user_id is not None:
            with ctx.db.write() as session:
                record(
                    session,
                    "account:login:failure",
                    origin=origin,
                    user_id=user_id,
                    reason="rate_limited",
                )
        raise
    with ctx.db.write() as session:
        return log_in(
            session,
            user_id,
            posted.password,
            origin=origin,
            policy=POLICY,
            previous_session=previous,
            next_path=posted.next,
        )


@router.post(LOGIN_PATH, include_in_schema=False)
async def login_submit(request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """Check the credentials; on success start a new session and go to ``next``."""
    posted = parse_login_form(await request.form())
    if posted.next is None:
        posted.next = safe_next(request.query_params.get("next"))
    previous = identity.session_id if identity is not None else None
    cookie = await run_in_threadpool(_login, ctx, posted, origin_of(request), previous)
    if cookie is None:
        if not posted.errors:
            posted.errors["form"] = LOGIN_FAILED
        return render(request, "accounts/login.html", {"form": posted}, status_code=400)
    if isinstance(cookie, SecondFactorNeeded):
        return second_step_redirect(request, cookie.pending_secret)
    response = RedirectResponse(posted.next or AFTER_LOGIN, status_code=303)
    set_session_cookie(request, response, cookie)
    return response


@router.get(LOGOUT_PATH, include_in_schema=False)
def logout_page(request: Request, identity: MaybeUser) -> Response:
    """A confirmation form (logging out takes a POST, so a link cannot log anyone out)."""
    if identity is None:
        return RedirectResponse("/", status_code=303)
    return render(request, "accounts/logout.html")


@router.post(LOGOUT_PATH, include_in_schema=False)
def logout(request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """End the session on the server and clear the cookie."""
    if identity is not None:
        with ctx.db.write() as session:
            row = session.get(UserSession, identity.session_id)
            if row is not None:
                end_session(session, row)
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(request, response)
    return response
