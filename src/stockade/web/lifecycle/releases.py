"""The releases page and yanking: ``/manage/project/<name>/releases/`` lists every release and
file with the yank forms (maintainers and owners) and links to the delete confirmations
(owners); ``releases/<version>/yank/`` and ``unyank/`` take the forms."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.lifecycle import services
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.queries import project_report
from stockade.web.auth import csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import MaintainerAccess, ProjectAccess
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

__all__ = ["releases_response", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])


def releases_response(
    request: Request,
    ctx: AppContext,
    access: ProjectAccess,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The releases page, with a notice or an error; 404 when the project is gone."""
    try:
        with ctx.db.read() as session:
            report = project_report(session, live_project(session, access))
    except LifecycleError:  # deleted since the access check (a concurrent deletion)
        return not_found(request)
    may_delete = access.is_owner and (not report.critical or access.identity.is_admin)
    return render(
        request,
        "manage/releases.html",
        {
            "access": access,
            "report": report,
            "notice": message,
            "error": error,
            "may_delete": may_delete,
            "quote": quote,
        },
        status_code=status_code,
    )


@router.get("/manage/project/{project_name}/releases/", include_in_schema=False)
def releases_page(
    project_name: str,
    request: Request,
    ctx: Ctx,
    access: MaintainerAccess,
    done: str | None = None,
) -> Response:
    """Every release and file, with the yank forms and links to the delete confirmations."""
    if project_name != access.normalized_name:
        return RedirectResponse(f"{manage_path(access)}releases/", status_code=301)
    return releases_response(request, ctx, access, message=NOTICES.get(done or ""))


async def _yank_action(
    request: Request, ctx: AppContext, access: ProjectAccess, version: str, yank: bool
) -> Response:
    fields = await form_fields(request, "reason")
    origin, user_id, admin = origin_of(request), access.identity.user_id, access.identity.is_admin

    def act(session: Session) -> None:
        project = live_project(session, access)
        if yank:
            services.yank(
                session,
                project,
                version,
                fields["reason"],
                origin=origin,
                actor_id=user_id,
                admin=admin,
            )
        else:
            services.unyank(session, project, version, origin=origin, actor_id=user_id, admin=admin)

    try:
        await run_in_threadpool(run_action, ctx, act, access.normalized_name)
    except LifecycleError as exc:
        return releases_response(
            request, ctx, access, error=exc.message, status_code=exc.status_code
        )
    return redirect_done(f"{manage_path(access)}releases/", "yanked" if yank else "unyanked")


@router.post("/manage/project/{project_name}/releases/{version}/yank/", include_in_schema=False)
async def yank_release(
    project_name: str, version: str, request: Request, ctx: Ctx, access: MaintainerAccess
) -> Response:
    """Yank a release, with an optional reason shown to users and installers."""
    return await _yank_action(request, ctx, access, version, True)


@router.post("/manage/project/{project_name}/releases/{version}/unyank/", include_in_schema=False)
async def unyank_release(
    project_name: str, version: str, request: Request, ctx: Ctx, access: MaintainerAccess
) -> Response:
    """Make a yanked release installable again."""
    return await _yank_action(request, ctx, access, version, False)
