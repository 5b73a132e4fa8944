"""Web routes for a project's collaborators: the roles page, and the forms Owners use to invite,
change and remove people and revoke invitations, and everyone with a role uses to leave."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.accounts.models import User
from stockade.index.models import Project
from stockade.index.policy import TwoFactorPolicy
from stockade.index.queries import collaborators, pending_for_project
from stockade.index.roles import (
    ROLE_NAMES,
    Outbox,
    RoleError,
    RoleNotFound,
    change_role,
    invite,
    leave_project,
    remove_role,
    revoke_invitation,
)
from stockade.web.auth import csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import MaintainerAccess, MemberLeaving, OwnerAccess, ProjectAccess
from stockade.web.manage.common import done_url, form_fields, notice, outbox_for, run_as
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

ROLES = "/manage/project/{project_name}/roles/"
T = TypeVar("T")


def roles_path(access: ProjectAccess) -> str:
    """The roles page of the project."""
    return f"/manage/project/{access.normalized_name}/roles/"


def _roles_page(
    request: Request,
    ctx: AppContext,
    access: ProjectAccess,
    *,
    message: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with ctx.db.read() as session:
        people = collaborators(session, access.project_id)
        invitations = pending_for_project(session, access.project_id)
    return render(
        request,
        "manage/roles.html",
        {
            "access": access,
            "collaborators": people,
            "invitations": invitations,
            "role_names": ROLE_NAMES,
            "notice": message,
            "error": error,
            "form": form or {"username": "", "role_name": ROLE_NAMES[1]},
        },
        status_code=status_code,
    )


def _project(session: Session, access: ProjectAccess) -> Project:
    project = session.get(Project, access.project_id)
    if project is None:
        raise RoleNotFound(f"Project {access.name!r} no longer exists.")
    return project


async def _act(
    request: Request,
    ctx: AppContext,
    access: ProjectAccess,
    action: Callable[[Session, User, Project, Outbox], T],
    form: dict[str, str] | None = None,
) -> T | Response:
    """Run a role service as the logged-in user on the guarded project and deliver its mail;
    a refusal re-renders the roles page with the reason."""
    outbox = outbox_for(ctx, request)
    try:
        result = await run_in_threadpool(
            run_as,
            ctx,
            access.identity,
            lambda s, user: action(s, user, _project(s, access), outbox),
        )
    except RoleError as exc:
        return _roles_page(
            request, ctx, access, error=exc.message, form=form, status_code=exc.status_code
        )
    await run_in_threadpool(outbox.deliver, ctx.mailer)
    return result


@router.get(ROLES, include_in_schema=False)
def roles_page(
    project_name: str,
    request: Request,
    ctx: Ctx,
    access: MaintainerAccess,
    done: str | None = None,
    who: str | None = None,
) -> Response:
    """Who has which role, pending invitations; Owners also get the forms to change them."""
    if project_name != access.normalized_name:
        return RedirectResponse(roles_path(access), status_code=301)
    return _roles_page(request, ctx, access, message=notice(done, who))


@router.post(ROLES + "invite/", include_in_schema=False)
async def invite_form(request: Request, ctx: Ctx, access: OwnerAccess) -> Response:
    """Invite a user by name to a role; they accept or decline from their projects page."""
    fields = await form_fields(request, "username", "role_name")
    origin = origin_of(request)
    two_factor = TwoFactorPolicy.of(ctx.settings, ctx.base_url(request))
    result = await _act(
        request,
        ctx,
        access,
        lambda s, actor, project, outbox: invite(
            s,
            actor=actor,
            project=project,
            username=fields["username"],
            role_name=fields["role_name"],
            origin=origin,
            outbox=outbox,
            two_factor=two_factor,
        ),
        form=fields,
    )
    if isinstance(result, Response):
        return result
    who = fields["username"].strip()
    return RedirectResponse(done_url(roles_path(access), "invited", who), status_code=303)


@router.post(ROLES + "{role_id:int}/change/", include_in_schema=False)
async def change_role_form(
    role_id: int, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Make a collaborator an Owner or a Maintainer (the last Owner stays one)."""
    fields = await form_fields(request, "role_name")
    origin = origin_of(request)
    result = await _act(
        request,
        ctx,
        access,
        lambda s, actor, project, outbox: change_role(
            s,
            actor=actor,
            project=project,
            role_id=role_id,
            role_name=fields["role_name"],
            origin=origin,
            outbox=outbox,
        ),
    )
    if isinstance(result, Response):
        return result
    _, user = result
    return RedirectResponse(done_url(roles_path(access), "changed", user.username), status_code=303)


@router.post(ROLES + "{role_id:int}/remove/", include_in_schema=False)
async def remove_role_form(
    role_id: int, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Remove a collaborator (never the last Owner)."""
    origin = origin_of(request)
    result = await _act(
        request,
        ctx,
        access,
        lambda s, actor, project, outbox: remove_role(
            s, actor=actor, project=project, role_id=role_id, origin=origin, outbox=outbox
        ),
    )
    if isinstance(result, Response):
        return result
    if result.id == access.identity.user_id and not access.identity.is_admin:
        # An owner who removed themselves can no longer see the roles page.
        return RedirectResponse(
            done_url("/manage/projects/", "left", access.normalized_name), status_code=303
        )
    return RedirectResponse(
        done_url(roles_path(access), "removed", result.username), status_code=303
    )


@router.post(ROLES + "leave/", include_in_schema=False)
async def leave_form(request: Request, ctx: Ctx, access: MemberLeaving) -> Response:
    """Give up your own role on the project (the last Owner cannot). Open even to a member
    the project's 2FA requirement locks out: leaving only reduces risk."""
    origin = origin_of(request)
    result = await _act(
        request,
        ctx,
        access,
        lambda s, user, project, outbox: leave_project(
            s, user=user, project=project, origin=origin
        ),
    )
    if isinstance(result, Response):
        return result
    return RedirectResponse(
        done_url("/manage/projects/", "left", access.normalized_name), status_code=303
    )


@router.post(
    "/manage/project/{project_name}/invitations/{invitation_id:int}/revoke/",
    include_in_schema=False,
)
async def revoke_invitation_form(
    invitation_id: int, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Withdraw a pending invitation."""
    origin = origin_of(request)
    result = await _act(
        request,
        ctx,
        access,
        lambda s, actor, project, outbox: revoke_invitation(
            s,
            actor=actor,
            project=project,
            invitation_id=invitation_id,
            origin=origin,
            outbox=outbox,
        ),
    )
    if isinstance(result, Response):
        return result
    _, invitee = result
    return RedirectResponse(
        done_url(roles_path(access), "revoked", invitee.username), status_code=303
    )
