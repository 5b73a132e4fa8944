"""``/manage/organizations/``: the organizations a user belongs to, and the form to ask for a
new one (it waits for an administrator's approval when ``org_approval_required``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from stockade.accounts.models import User
from stockade.orgs.queries import memberships
from stockade.orgs.services import OrgError, request_org
from stockade.web.auth import CurrentUser, csrf_protect
from stockade.web.context import Ctx, origin_of
from stockade.web.templating import render

__all__ = ["ORGS_PATH", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

ORGS_PATH = "/manage/organizations/"


@router.get(ORGS_PATH, include_in_schema=False)
def orgs_page(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """The user's organizations and the request form."""
    with ctx.db.read() as session:
        mine = memberships(session, identity.user_id)
    return render(
        request,
        "orgs/manage.html",
        {"orgs": mine, "approval": ctx.settings.org_approval_required, "error": None},
    )


@router.post(ORGS_PATH, include_in_schema=False)
async def ask_for_org(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Ask for an organization named by the form's ``name``; the user is its first owner."""
    form = await request.form()
    name = str(form.get("name") or "").strip()
    error = None
    try:
        with ctx.db.write() as session:
            user = session.get(User, identity.user_id)
            assert user is not None  # the guard read it
            request_org(
                session,
                name,
                owner=user,
                approval_required=ctx.settings.org_approval_required,
                origin=origin_of(request),
                actor_id=identity.user_id,
            )
    except OrgError as exc:
        error = exc
    if error is None:
        return RedirectResponse(ORGS_PATH, status_code=303)
    with ctx.db.read() as session:
        mine = memberships(session, identity.user_id)
    return render(
        request,
        "orgs/manage.html",
        {"orgs": mine, "approval": ctx.settings.org_approval_required, "error": error.message},
        status_code=error.status_code,
    )
