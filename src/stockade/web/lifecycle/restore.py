"""Restoring deletions (administrators): ``/admin/deleted/`` lists what can be restored, one
click each; ``/manage/project/<name>/restore/`` is the restore button on a project's releases
page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from stockade.lifecycle import services
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.queries import deleted_items
from stockade.web.auth import AdminUser, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.lifecycle.common import NOTICES, redirect_done
from stockade.web.manage.common import form_fields
from stockade.web.templating import render

__all__ = ["DELETED_PATH", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

DELETED_PATH = "/admin/deleted/"


def _deleted_page(
    request: Request,
    ctx: AppContext,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with ctx.db.read() as session:
        items = deleted_items(session)
    values = {"items": items, "notice": message, "error": error}
    return render(request, "manage/deleted.html", values, status_code=status_code)


@router.get(DELETED_PATH, include_in_schema=False)
def deleted_page(request: Request, ctx: Ctx, admin: AdminUser, done: str | None = None) -> Response:
    """Deleted projects, releases and files, newest first, each with its restore button."""
    return _deleted_page(request, ctx, message=NOTICES.get(done or ""))


@router.post(DELETED_PATH + "{deletion_id:int}/restore/", include_in_schema=False)
async def restore_deletion(
    deletion_id: int, request: Request, ctx: Ctx, admin: AdminUser
) -> Response:
    """Bring back what one deletion took away."""
    origin = origin_of(request)

    def run() -> None:
        with ctx.db.write() as session:
            name, _ = services.restore_deletion(
                session, deletion_id, origin=origin, actor_id=admin.user_id
            )
        services.announce(ctx.pages, name)

    try:
        await run_in_threadpool(run)
    except LifecycleError as exc:
        return _deleted_page(request, ctx, error=exc.message, status_code=exc.status_code)
    return redirect_done(DELETED_PATH, "restored")


@router.post("/manage/project/{project_name}/restore/", include_in_schema=False)
async def restore_in_project(
    project_name: str, request: Request, ctx: Ctx, admin: AdminUser
) -> Response:
    """An administrator's restore button on a project's releases page: a deleted release
    (``version``) or file (``filename``) of a live project."""
    fields = await form_fields(request, "version", "filename")
    origin = origin_of(request)
    version, filename = fields["version"] or None, fields["filename"] or None
    if version is None and filename is None:
        return _deleted_page(request, ctx, error="Name a release or a file.", status_code=400)

    def run() -> str:
        with ctx.db.write() as session:
            services.restore(
                session, project_name, version, filename, origin=origin, actor_id=admin.user_id
            )
            project = services.find_project(session, project_name)
            name = project.normalized_name if project is not None else project_name
        services.announce(ctx.pages, name)
        return name

    try:
        name = await run_in_threadpool(run)
    except LifecycleError as exc:
        return _deleted_page(request, ctx, error=exc.message, status_code=exc.status_code)
    return redirect_done(f"/manage/project/{name}/releases/", "restored")
