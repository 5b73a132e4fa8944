"""``/manage/organizations/``: the organizations a user belongs to, the form to ask for a new
one (it waits for an administrator's approval when ``org_approval_required``), and moving
projects into and out of organizations: one side asks (an org owner, or an Owner in person of
the project), the other confirms, and only then does the project move."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from stockade.accounts.models import User
from stockade.errors import ServiceError
from stockade.index.ownership import confirm_transfer, pending_transfers, request_transfer
from stockade.index.rules import find_project
from stockade.orgs.models import OrgTransfer
from stockade.orgs.queries import memberships
from stockade.orgs.services import OrgError, find_org, request_org
from stockade.web.auth import CurrentUser, csrf_protect
from stockade.web.context import Ctx, origin_of
from stockade.web.templating import render

__all__ = ["ORGS_PATH", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

ORGS_PATH = "/manage/organizations/"


def _page(request: Request, ctx: Ctx, user_id: int, error: ServiceError | None = None) -> Response:
    with ctx.db.read() as session:
        user = session.get(User, user_id)
        assert user is not None  # the guard read it
        mine = memberships(session, user_id)
        waiting = [
            (move.id, move.direction, o, p) for move, o, p in pending_transfers(session, user)
        ]
    return render(
        request,
        "orgs/manage.html",
        {
            "orgs": mine,
            "transfers": waiting,
            "approval": ctx.settings.org_approval_required,
            "error": error.message if error is not None else None,
        },
        status_code=error.status_code if error is not None else 200,
    )


@router.get(ORGS_PATH, include_in_schema=False)
def orgs_page(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """The user's organizations, the moves waiting for them, and the forms."""
    return _page(request, ctx, identity.user_id)


@router.post(ORGS_PATH, include_in_schema=False)
async def ask_for_org(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Ask for an organization named by the form's ``name``; the user is its first owner."""
    form = await request.form()
    name = str(form.get("name") or "").strip()
    error: ServiceError | None = None
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
    return _page(request, ctx, identity.user_id, error)


@router.post(ORGS_PATH + "transfers/", include_in_schema=False)
async def ask_to_move(request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Ask to move the form's ``project`` into (or out of) the form's ``org``."""
    form = await request.form()
    org_name, project_name = str(form.get("org") or ""), str(form.get("project") or "")
    error: ServiceError | None = None
    try:
        with ctx.db.write() as session:
            org = find_org(session, org_name.strip())
            project = find_project(session, project_name.strip())
            if org is None or project is None or project.deletion_id is not None:
                raise OrgError(404, "No such organization or project.")
            user = session.get(User, identity.user_id)
            assert user is not None
            request_transfer(session, org, project, actor=user, origin=origin_of(request))
    except ServiceError as exc:
        error = exc
    if error is None:
        return RedirectResponse(ORGS_PATH, status_code=303)
    return _page(request, ctx, identity.user_id, error)


@router.post(ORGS_PATH + "transfers/{transfer_id:int}/confirm/", include_in_schema=False)
def confirm_move(transfer_id: int, request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Confirm a move waiting for the user's side (404 for a move that is not there)."""
    error: ServiceError | None = None
    try:
        with ctx.db.write() as session:
            move = session.get(OrgTransfer, transfer_id)
            if move is None:
                raise OrgError(404, "No such move.")
            user = session.get(User, identity.user_id)
            assert user is not None
            confirm_transfer(session, move, actor=user, origin=origin_of(request))
    except ServiceError as exc:
        error = exc
    if error is None:
        return RedirectResponse(ORGS_PATH, status_code=303)
    return _page(request, ctx, identity.user_id, error)
