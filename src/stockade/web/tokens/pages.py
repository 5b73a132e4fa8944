"""Web routes of the tokens domain: a user lists, creates and revokes their API tokens.

``/manage/account/tokens/`` lists the tokens and holds the creation form; a new token is shown
once, on the response to the form, and never again (only its public identifier is stored).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from stockade.accounts.mails import token_created_mail
from stockade.accounts.models import User
from stockade.db.ratelimit import Limit, hit
from stockade.events.services import Origin
from stockade.index.queries import user_projects
from stockade.mail import deliver
from stockade.tokens.queries import find_user_token, user_tokens
from stockade.tokens.services import create_token, revoke_token
from stockade.web.auth import CurrentUser, Identity, LoginRequired, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render
from stockade.web.tokens.forms import MAX_EXPIRES_DAYS, TokenForm, TokenRequest, parse_token_form

__all__ = ["TOKENS_PATH", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

TOKENS_PATH = "/manage/account/tokens/"
# Creating tokens is cheap for us but each one is a credential: a burst is suspicious.
CREATE_LIMIT = Limit(count=20, seconds=3600)


def _page(session: Session, user_id: int) -> dict[str, Any]:
    return {
        "tokens": user_tokens(session, user_id),
        "projects": user_projects(session, user_id),
        "max_expires_days": MAX_EXPIRES_DAYS,
    }


@router.get(TOKENS_PATH, include_in_schema=False)
def tokens_page(
    request: Request, ctx: Ctx, identity: CurrentUser, revoked: str | None = None
) -> Response:
    """The user's API tokens and the form to add one (``?revoked=ID`` after a revocation)."""
    with ctx.db.read() as session:
        page = _page(session, identity.user_id)
    just_revoked = next((t for t in page["tokens"] if str(t.id) == revoked), None)
    return render(
        request, "tokens/list.html", {**page, "form": TokenForm(), "just_revoked": just_revoked}
    )


def _create(
    ctx: AppContext, identity: Identity, form: FormData, origin: Origin
) -> tuple[TokenForm, TokenRequest | None, str | None, dict[str, Any]]:
    with ctx.db.write() as session:
        user = session.get(User, identity.user_id)
        if user is None or not user.is_active:
            # Disabled or deleted since the session was checked: log in again (and fail).
            raise LoginRequired
        page = _page(session, user.id)
        posted, wanted = parse_token_form(
            form,
            allowed_projects={p.normalized_name for p in page["projects"]},
            names_in_use={t.name for t in page["tokens"] if t.revoked_at is None},
        )
        if wanted is None:
            return posted, None, None, page
        token = create_token(
            session,
            user,
            secret_key=ctx.settings.secret_key,
            name=wanted.name,
            projects=wanted.projects,
            expires_days=wanted.expires_days,
            origin=origin,
        )
    return posted, wanted, token, page


def _mail_new_token(ctx: AppContext, user_id: int, token_name: str) -> None:
    """Tell the account's verified primary address that a token was created (after commit)."""
    with ctx.db.read() as session:
        user = session.get(User, user_id)
        primary = user.primary_email if user is not None else None
        if user is None or primary is None or not primary.verified:
            return
        message = token_created_mail(
            site_name=ctx.settings.site_name,
            username=user.username,
            address=primary.email,
            token_name=token_name,
        )
    deliver(ctx.mailer, message)


@router.post(TOKENS_PATH, include_in_schema=False)
async def create_token_form(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Create a token and show it, this once; or show the form again with its errors."""
    await run_in_threadpool(hit, ctx.db, f"token-create:user:{identity.user_id}", CREATE_LIMIT)
    form = await request.form()
    posted, wanted, token, page = await run_in_threadpool(
        _create, ctx, identity, form, origin_of(request)
    )
    if wanted is None or token is None:
        return render(request, "tokens/list.html", {**page, "form": posted}, status_code=400)
    # The transaction has committed: the token works from the moment it is shown.
    await run_in_threadpool(_mail_new_token, ctx, identity.user_id, wanted.name)
    return render(
        request,
        "tokens/created.html",
        {"token": token, "created": wanted, "base_url": ctx.base_url(request)},
        headers={"Cache-Control": "no-store"},
    )


@router.post(TOKENS_PATH + "{token_id:int}/revoke/", include_in_schema=False)
def revoke_token_form(token_id: int, request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Revoke one of the user's tokens; anyone else's token is "not found"."""
    with ctx.db.write() as session:
        row = find_user_token(session, identity.user_id, token_id)
        if row is not None:
            revoke_token(session, row, actor_id=identity.user_id, origin=origin_of(request))
    if row is None:
        return render(request, "tokens/not_found.html", status_code=404)
    return RedirectResponse(f"{TOKENS_PATH}?revoked={token_id}", status_code=303)
