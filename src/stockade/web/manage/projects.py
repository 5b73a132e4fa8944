"""Web routes for managing projects: your projects and invitations, a project's overview and its
history. The roles pages live in ``web.manage.roles`` and are included here.

Guards (see ``stockade.web.guards``): the list of your projects and the answers to invitations
need a logged-in user; a project's pages need a Maintainer or Owner role on it (administrators
pass every guard).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from stockade.index.history import project_events
from stockade.index.policy import TwoFactorPolicy
from stockade.index.queries import (
    collaborators,
    pending_for_user,
    project_links,
    project_releases,
    user_projects,
)
from stockade.index.roles import RoleError, accept_invitation, decline_invitation
from stockade.staging.drafts import project_drafts
from stockade.stats.mandate import critical_status
from stockade.web.auth import CurrentUser, Identity, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import MaintainerAccess, ProjectAccess
from stockade.web.manage.common import done_url, notice, outbox_for, run_as
from stockade.web.manage.roles import router as roles_router
from stockade.web.templating import render

__all__ = ["PROJECTS_PATH", "overview_response", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
router.include_router(roles_router)

PROJECTS_PATH = "/manage/projects/"


def _projects_page(
    request: Request,
    ctx: AppContext,
    identity: Identity,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with ctx.db.read() as session:
        projects = user_projects(session, identity.user_id)
        invitations = pending_for_user(session, identity.user_id)
        critical = critical_status(session, ctx.settings, identity.user_id)
    return render(
        request,
        "manage/projects.html",
        {
            "projects": projects,
            "invitations": invitations,
            "notice": message,
            "error": error,
            "critical": critical,
        },
        status_code=status_code,
    )


@router.get(PROJECTS_PATH, include_in_schema=False)
def projects_page(
    request: Request,
    ctx: Ctx,
    identity: CurrentUser,
    done: str | None = None,
    who: str | None = None,
) -> Response:
    """Your projects with your role on each, and invitations waiting for your answer."""
    return _projects_page(request, ctx, identity, message=notice(done, who))


def _answer_invitation(
    request: Request,
    ctx: Ctx,
    identity: CurrentUser,
    invitation_id: int,
    answer: Callable[..., Any],
    done: str,
) -> Response:
    outbox, origin = outbox_for(ctx, request), origin_of(request)
    try:
        _, project = run_as(
            ctx,
            identity,
            lambda s, user: answer(
                s, user=user, invitation_id=invitation_id, origin=origin, outbox=outbox
            ),
        )
    except RoleError as exc:
        return _projects_page(
            request, ctx, identity, error=exc.message, status_code=exc.status_code
        )
    outbox.deliver(ctx.mailer)
    return RedirectResponse(done_url(PROJECTS_PATH, done, project.normalized_name), status_code=303)


@router.post("/manage/invitations/{invitation_id:int}/accept/", include_in_schema=False)
def accept_invitation_form(
    invitation_id: int, request: Request, ctx: Ctx, identity: CurrentUser
) -> Response:
    """Accept an invitation addressed to you: you get the role it offers."""
    two_factor = TwoFactorPolicy.of(ctx.settings, ctx.base_url(request))
    accept = functools.partial(accept_invitation, two_factor=two_factor)
    return _answer_invitation(request, ctx, identity, invitation_id, accept, "accepted")


@router.post("/manage/invitations/{invitation_id:int}/decline/", include_in_schema=False)
def decline_invitation_form(
    invitation_id: int, request: Request, ctx: Ctx, identity: CurrentUser
) -> Response:
    """Decline an invitation addressed to you."""
    return _answer_invitation(request, ctx, identity, invitation_id, decline_invitation, "declined")


def _canonical(project_name: str, access: ProjectAccess, suffix: str) -> Response | None:
    if project_name == access.normalized_name:
        return None
    return RedirectResponse(f"/manage/project/{access.normalized_name}/{suffix}", status_code=301)


def overview_response(
    request: Request,
    ctx: AppContext,
    access: ProjectAccess,
    *,
    message: str | None = None,
    error: str | None = None,
    error_draft: int | None = None,
    status_code: int = 200,
) -> Response:
    """The project's overview page; ``error`` is shown beside draft ``error_draft``'s forms
    when given (and still listed), else at the top."""
    with ctx.db.read() as session:
        drafts = project_drafts(session, access.normalized_name)
        values = {
            "access": access,
            "releases": project_releases(session, access.project_id),
            "drafts": drafts,
            "links": project_links(session, access.project_id),
            "collaborators": collaborators(session, access.project_id),
            "notice": message,
            "error": error,
            # A draft gone meanwhile has no forms to show its refusal beside: shown at the top.
            "error_draft": error_draft if any(d.id == error_draft for d in drafts) else None,
        }
    return render(request, "manage/project.html", values, status_code=status_code)


@router.get("/manage/project/{project_name}/", include_in_schema=False)
def project_overview(
    project_name: str,
    request: Request,
    ctx: Ctx,
    access: MaintainerAccess,
    done: str | None = None,
    who: str | None = None,
) -> Response:
    """A project's releases, draft releases, links and collaborators, with the way to its
    other pages."""
    redirect = _canonical(project_name, access, "")
    if redirect is not None:
        return redirect
    return overview_response(request, ctx, access, message=notice(done, who))


@router.get("/manage/project/{project_name}/history/", include_in_schema=False)
def project_history(
    project_name: str, request: Request, ctx: Ctx, access: MaintainerAccess
) -> Response:
    """The project's security history: uploads, role changes, invitations."""
    redirect = _canonical(project_name, access, "history/")
    if redirect is not None:
        return redirect
    with ctx.db.read() as session:
        events = project_events(session, access.project_id)
    return render(request, "manage/history.html", {"access": access, "events": events})
