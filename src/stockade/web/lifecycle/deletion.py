"""The delete confirmations: ``/manage/project/<name>/releases/<version>/delete/``,
``files/<filename>/delete/`` and ``delete/`` list what would go and ask the owner to type the
version, filename or project name before anything is deleted (owners)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from packaging.utils import canonicalize_version
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.lifecycle import services
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.queries import project_report
from stockade.web.auth import csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import OwnerAccess, ProjectAccess
from stockade.web.lifecycle.common import live_project, manage_path, redirect_done, run_action
from stockade.web.lifecycle.releases import releases_response
from stockade.web.manage.common import form_fields
from stockade.web.templating import render

__all__ = ["delete_confirmed", "deletion_page", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

Kind = Literal["project", "release", "file"]


def _delete_context(
    session: Session, access: ProjectAccess, kind: Kind, target: str | None
) -> dict[str, Any]:
    """What the confirmation page lists (the files that would go) and the word to type."""
    project = live_project(session, access)
    # Refused before anything is typed, so the owner learns the rule first.
    services.check_may_delete(project, admin=access.identity.is_admin)
    report = project_report(session, project)
    releases = [r for r in report.releases if not r.deleted]
    if kind == "release":
        # The same release the POST would delete (services.find_release canonicalizes).
        wanted = canonicalize_version(str(target))
        releases = [r for r in releases if canonicalize_version(r.version) == wanted]
        if not releases:
            raise LifecycleError(404, f"Project {project.name!r} has no release {target!r}.")
    files = [f for r in releases for f in r.live_files]
    if kind == "file":
        files = [f for f in files if f.filename == target]
        if not files:
            raise LifecycleError(404, f"Project {project.name!r} has no file {target!r}.")
    return {
        "kind": kind,
        "target": target,
        "files": files,
        "releases": releases,
        "confirm_word": project.name if kind == "project" else target,
    }


def _delete_page(
    request: Request,
    ctx: AppContext,
    access: ProjectAccess,
    kind: Kind,
    target: str | None,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        with ctx.db.read() as session:
            values = _delete_context(session, access, kind, target)
    except LifecycleError as exc:
        return releases_response(
            request, ctx, access, error=exc.message, status_code=exc.status_code
        )
    values.update(access=access, error=error, action=request.url.path)
    return render(request, "manage/delete_confirm.html", values, status_code=status_code)


async def _delete(
    request: Request, ctx: AppContext, access: ProjectAccess, kind: Kind, target: str | None
) -> Response:
    fields = await form_fields(request, "confirm", "reason")
    word = access.name if kind == "project" else target
    if fields["confirm"].strip() != word:
        what = {"project": "project name", "release": "version", "file": "filename"}[kind]
        return _delete_page(
            request,
            ctx,
            access,
            kind,
            target,
            error=f"Type the {what} {word!r} exactly to confirm the deletion.",
            status_code=400,
        )
    origin, user_id, admin = origin_of(request), access.identity.user_id, access.identity.is_admin

    def act(session: Session) -> None:
        project = live_project(session, access)
        common: dict[str, Any] = {
            "origin": origin,
            "actor_id": user_id,
            "admin": admin,
            "reason": fields["reason"],
        }
        if kind == "file":
            services.delete_file(session, project, str(target), **common)
        elif kind == "release":
            services.delete_release(session, project, str(target), **common)
        else:
            services.delete_project(session, project, **common)

    try:
        await run_in_threadpool(run_action, ctx, act, access.normalized_name)
    except LifecycleError as exc:
        return _delete_page(
            request, ctx, access, kind, target, error=exc.message, status_code=exc.status_code
        )
    if kind == "project":
        return RedirectResponse("/manage/projects/", status_code=303)
    return redirect_done(f"{manage_path(access)}releases/", "deleted")


# Each deletion has one path: its confirmation page (GET) and the form that deletes (POST). The
# path parameter after the project's name says what goes.
_PATHS: dict[Kind, str] = {
    "project": "/manage/project/{project_name}/delete/",
    "release": "/manage/project/{project_name}/releases/{version}/delete/",
    "file": "/manage/project/{project_name}/files/{filename}/delete/",
}


def _target(request: Request) -> tuple[Kind, str | None]:
    """Which deletion the request's path names: the project, a release (its version) or a file
    (its filename)."""
    params = request.path_params
    if "version" in params:
        return "release", params["version"]
    if "filename" in params:
        return "file", params["filename"]
    return "project", None


def deletion_page(request: Request, ctx: Ctx, access: OwnerAccess) -> Response:
    """What deleting the project, a release or a file breaks, and the form to confirm it."""
    return _delete_page(request, ctx, access, *_target(request))


async def delete_confirmed(request: Request, ctx: Ctx, access: OwnerAccess) -> Response:
    """Delete the project, release or file once its name, version or filename is typed."""
    return await _delete(request, ctx, access, *_target(request))


for _path in _PATHS.values():
    router.add_api_route(_path, deletion_page, methods=["GET"], include_in_schema=False)
    router.add_api_route(_path, delete_confirmed, methods=["POST"], include_in_schema=False)
