"""Archiving: ``/manage/project/<name>/archive/`` shows the project's status and archives it;
``unarchive/`` makes it active again (owners)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.lifecycle import services
from stockade.lifecycle.errors import LifecycleError
from stockade.web.auth import csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import OwnerAccess, ProjectAccess
from stockade.web.lifecycle.common import (
    NOTICES,
    live_project,
    manage_path,
    not_found,
    redirect_done,
    run_action,
)
from stockade.web.manage.common import form_fields
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

_ARCHIVE = "/manage/project/{project_name}/archive/"


def _archive_page(
    request: Request,
    ctx: AppContext,
    access: ProjectAccess,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        with ctx.db.read() as session:
            project = live_project(session, access)
            status, reason = project.status, project.status_reason
    except LifecycleError:  # deleted since the access check (a concurrent deletion)
        return not_found(request)
    values = {
        "access": access,
        "status": status,
        "status_reason": reason,
        "notice": message,
        "error": error,
    }
    return render(request, "manage/archive.html", values, status_code=status_code)


@router.get(_ARCHIVE, include_in_schema=False)
def archive_page(
    project_name: str, request: Request, ctx: Ctx, access: OwnerAccess, done: str | None = None
) -> Response:
    """The project's status, and the form to archive or unarchive it."""
    if project_name != access.normalized_name:
        return RedirectResponse(f"{manage_path(access)}archive/", status_code=301)
    return _archive_page(request, ctx, access, message=NOTICES.get(done or ""))


async def _archive_action(
    request: Request, ctx: AppContext, access: ProjectAccess, archive: bool
) -> Response:
    fields = await form_fields(request, "reason")
    origin, user_id, admin = origin_of(request), access.identity.user_id, access.identity.is_admin

    def act(session: Session) -> None:
        project = live_project(session, access)
        if archive:
            services.archive(
                session, project, fields["reason"], origin=origin, actor_id=user_id, admin=admin
            )
        else:
            services.unarchive(session, project, origin=origin, actor_id=user_id)

    try:
        await run_in_threadpool(run_action, ctx, act, access.normalized_name)
    except LifecycleError as exc:
        return _archive_page(request, ctx, access, error=exc.message, status_code=exc.status_code)
    return redirect_done(f"{manage_path(access)}archive/", "archived" if archive else "unarchived")


@router.post(_ARCHIVE, include_in_schema=False)
async def archive_project(
    project_name: str, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Archive the project: read-only, uploads refused, PEP 792 ``archived``."""
    return await _archive_action(request, ctx, access, True)


@router.post("/manage/project/{project_name}/unarchive/", include_in_schema=False)
async def unarchive_project(
    project_name: str, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Make the project active again."""
    return await _archive_action(request, ctx, access, False)
