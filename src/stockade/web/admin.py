"""Administrators' pages: the index at a glance, finding users, disabling and enabling them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from starlette.responses import RedirectResponse, Response

from stockade.abuse.trust import is_trusted
from stockade.accounts.models import User, UserEmail
from stockade.accounts.services import find_user, set_active
from stockade.accounts.twofactor.factors import totp_of
from stockade.accounts.twofactor.models import WebAuthnKey
from stockade.accounts.twofactor.recovery_codes import remaining_codes
from stockade.index.history import all_events, user_events
from stockade.index.models import File, Project, Role
from stockade.tuf.repository import root_info
from stockade.web.auth import AdminUser, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = ["change_user", "router"]

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])

USERS_PER_PAGE = 50


@router.get("/", include_in_schema=False)
def overview(
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Counts, recent events, and the users: all of them a page at a time, or those whose name
    or an email address starts with ``q``."""
    with ctx.db.read() as session:
        counts = {
            "users": session.scalar(select(func.count(User.id))) or 0,
            "disabled users": session.scalar(
                select(func.count(User.id)).where(User.is_active.is_(False))
            )
            or 0,
            "projects": session.scalar(select(func.count(Project.id))) or 0,
            "files": session.scalar(select(func.count(File.id))) or 0,
        }
        term = q.strip().lower()
        query = select(User).options(selectinload(User.emails)).order_by(User.username_lower)
        if term:
            matching = (
                select(UserEmail.user_id)
                .where(UserEmail.email_lower.startswith(term, autoescape=True))
                .scalar_subquery()
            )
            query = query.where(
                User.username_lower.startswith(term, autoescape=True) | User.id.in_(matching)
            )
        found = list(
            session.scalars(
                query.offset((page - 1) * USERS_PER_PAGE).limit(USERS_PER_PAGE + 1)
            ).unique()
        )
        users, more = found[:USERS_PER_PAGE], len(found) > USERS_PER_PAGE
        events = all_events(session, limit=50)
        tuf_root = root_info(session)
    return render(
        request,
        "admin/index.html",
        {
            "counts": counts,
            "users": users,
            "q": q,
            "page": page,
            "more": more,
            "events": events,
            "tuf_root": tuf_root,
        },
    )


@router.get("/users/{username}/", include_in_schema=False)
def user_detail(username: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """One account: emails, roles, state, history, and the disable/enable form."""
    with ctx.db.read() as session:
        user = find_user(session, username)
        if user is None:
            return render(request, "not_found.html", {}, status_code=404)
        emails = list(user.emails)
        roles = session.execute(
            select(Project.normalized_name, Role.role_name)
            .join(Project, Project.id == Role.project_id)
            # A deleted project's roles only reserve its name; it has no page to link to.
            .where(Role.user_id == user.id, Project.deletion_id.is_(None))
            .order_by(Project.normalized_name)
        ).all()
        events = user_events(session, user.id)
        trusted = is_trusted(session, user.id)
        totp = totp_of(session, user.id)
        keys = list(
            session.scalars(
                select(WebAuthnKey.label)
                .where(WebAuthnKey.user_id == user.id)
                .order_by(WebAuthnKey.id)
            )
        )
        codes_left = remaining_codes(session, user.id)
    return render(
        request,
        "admin/user.html",
        {
            "user": user,
            "emails": emails,
            "roles": roles,
            "events": events,
            "trusted_reporter": trusted,
            "totp": totp,
            "keys": keys,
            "codes_left": codes_left,
        },
    )


@router.post("/users/{username}/active/", include_in_schema=False)
def user_set_active(
    username: str,
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    active: Annotated[str, Form()],
) -> Response:
    """Disable (active=0) or enable (active=1) an account."""

    def change(session: Session, user: User) -> Response | None:
        if user.id == admin.user_id and active != "1":
            return render(
                request,
                "admin/user.html",
                {
                    "user": user,
                    "emails": list(user.emails),
                    "roles": [],
                    "events": [],
                    "error": "You cannot disable your own account.",
                },
                status_code=400,
            )
        set_active(session, user, active == "1", actor_id=admin.user_id, origin=origin_of(request))
        return None

    return change_user(request, ctx, username, change)


def change_user(
    request: Request,
    ctx: AppContext,
    username: str,
    change: Callable[[Session, User], Response | None],
) -> Response:
    """The forms on an account's admin page: ``change`` the account named ``username`` in one
    write transaction, then back to its page (303); the 404 page when there is no such account.
    ``change`` may return a page to answer instead (a refusal, before it changes anything)."""
    with ctx.db.write() as session:
        user = find_user(session, username)
        if user is None:
            return render(request, "not_found.html", {}, status_code=404)
        refused = change(session, user)
        if refused is not None:
            return refused
        name = user.username
    return RedirectResponse(f"/admin/users/{name}/", status_code=303)
