"""Yank, delete, restore and archive pages.

Under ``/manage/project/<name>/``: ``releases/`` lists every release and file with the yank
forms (maintainers and owners) and links to the delete confirmations (owners);
``releases/<version>/delete/``, ``files/<filename>/delete/`` and ``delete/`` ask the owner to
type the version, filename or project name before anything is deleted; ``archive/`` archives
and unarchives (owners). ``/admin/deleted/`` lists what can be restored, one click each
(administrators).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from packaging.utils import canonicalize_version
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.index.models import Project
from stockade.lifecycle import services
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.queries import deleted_items, project_report
from stockade.web.auth import Identity, csrf_protect, require_admin
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import MaintainerAccess, OwnerAccess, ProjectAccess
from stockade.web.manage.common import form_fields
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

AdminUser = Annotated[Identity, Depends(require_admin)]
Kind = Literal["project", "release", "file"]
DELETED_PATH = "/admin/deleted/"

# Notices after a redirect are chosen by a code, never taken from the query string.
_NOTICES = {
    "yanked": "Release yanked: installers skip it unless it is pinned.",
    "unyanked": "Release unyanked: installers choose it again.",
    "deleted": "Deleted. Its filenames can never be uploaded again.",
    "archived": "Project archived: it is read-only and refuses uploads.",
    "unarchived": "Project unarchived: it accepts uploads again.",
    "restored": "Restored.",
}


def _base(access: ProjectAccess) -> str:
    return f"/manage/project/{access.normalized_name}/"


def _redirect(path: str, done: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'done': done})}", status_code=303)


def _run(ctx: AppContext, action: Callable[[Session], Any], name: str) -> Any:
    """Run ``action`` in one write transaction; after commit this worker drops its cached
    pages and file answers for the project."""
    with ctx.db.write() as session:
        result = action(session)
    services.announce(ctx.pages, name)
    return result


def _project(session: Session, access: ProjectAccess) -> Project:
    project = session.get(Project, access.project_id)
    if project is None or project.deletion_id is not None:
        raise LifecycleError(404, f"Project {access.name!r} does not exist.")
    return project


def _not_found(request: Request) -> Response:
    return render(request, "not_found.html", {}, status_code=404)


# -- releases and yanking -----------------------------------------------------------------------
def _releases_page(
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
            report = project_report(session, _project(session, access))
    except LifecycleError:  # deleted since the access check (a concurrent deletion)
        return _not_found(request)
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
        return RedirectResponse(f"{_base(access)}releases/", status_code=301)
    return _releases_page(request, ctx, access, message=_NOTICES.get(done or ""))


async def _yank_action(
    request: Request, ctx: AppContext, access: ProjectAccess, version: str, yank: bool
) -> Response:
    fields = await form_fields(request, "reason")
    origin, user_id, admin = origin_of(request), access.identity.user_id, access.identity.is_admin

    def act(session: Session) -> None:
        project = _project(session, access)
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
        await run_in_threadpool(_run, ctx, act, access.normalized_name)
    except LifecycleError as exc:
        return _releases_page(request, ctx, access, error=exc.message, status_code=exc.status_code)
    return _redirect(f"{_base(access)}releases/", "yanked" if yank else "unyanked")


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


# -- deletion -----------------------------------------------------------------------------------
def _delete_context(
    session: Session, access: ProjectAccess, kind: Kind, target: str | None
) -> dict[str, Any]:
    """What the confirmation page lists (the files that would go) and the word to type."""
    project = _project(session, access)
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
        return _releases_page(request, ctx, access, error=exc.message, status_code=exc.status_code)
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
        project = _project(session, access)
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
        await run_in_threadpool(_run, ctx, act, access.normalized_name)
    except LifecycleError as exc:
        return _delete_page(
            request, ctx, access, kind, target, error=exc.message, status_code=exc.status_code
        )
    if kind == "project":
        return RedirectResponse("/manage/projects/", status_code=303)
    return _redirect(f"{_base(access)}releases/", "deleted")


_PROJECT_DELETE = "/manage/project/{project_name}/delete/"
_RELEASE_DELETE = "/manage/project/{project_name}/releases/{version}/delete/"
_FILE_DELETE = "/manage/project/{project_name}/files/{filename}/delete/"


@router.get(_PROJECT_DELETE, include_in_schema=False)
def delete_project_page(
    project_name: str, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """What deleting the whole project breaks, and the form to confirm it."""
    return _delete_page(request, ctx, access, "project", None)


@router.post(_PROJECT_DELETE, include_in_schema=False)
async def delete_project(
    project_name: str, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Delete the project once its name is typed."""
    return await _delete(request, ctx, access, "project", None)


@router.get(_RELEASE_DELETE, include_in_schema=False)
def delete_release_page(
    project_name: str, version: str, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """What deleting a release breaks, and the form to confirm it."""
    return _delete_page(request, ctx, access, "release", version)


@router.post(_RELEASE_DELETE, include_in_schema=False)
async def delete_release(
    project_name: str, version: str, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Delete a release once its version is typed."""
    return await _delete(request, ctx, access, "release", version)


@router.get(_FILE_DELETE, include_in_schema=False)
def delete_file_page(
    project_name: str, filename: str, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """What deleting a file breaks, and the form to confirm it."""
    return _delete_page(request, ctx, access, "file", filename)


@router.post(_FILE_DELETE, include_in_schema=False)
async def delete_file(
    project_name: str, filename: str, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Delete a file once its filename is typed."""
    return await _delete(request, ctx, access, "file", filename)


# -- archive ------------------------------------------------------------------------------------
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
            project = _project(session, access)
            status, reason = project.status, project.status_reason
    except LifecycleError:  # deleted since the access check (a concurrent deletion)
        return _not_found(request)
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
        return RedirectResponse(f"{_base(access)}archive/", status_code=301)
    return _archive_page(request, ctx, access, message=_NOTICES.get(done or ""))


async def _archive_action(
    request: Request, ctx: AppContext, access: ProjectAccess, archive: bool
) -> Response:
    fields = await form_fields(request, "reason")
    origin, user_id, admin = origin_of(request), access.identity.user_id, access.identity.is_admin

    def act(session: Session) -> None:
        project = _project(session, access)
        if archive:
            services.archive(
                session, project, fields["reason"], origin=origin, actor_id=user_id, admin=admin
            )
        else:
            services.unarchive(session, project, origin=origin, actor_id=user_id)

    try:
        await run_in_threadpool(_run, ctx, act, access.normalized_name)
    except LifecycleError as exc:
        return _archive_page(request, ctx, access, error=exc.message, status_code=exc.status_code)
    return _redirect(f"{_base(access)}archive/", "archived" if archive else "unarchived")


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


# -- restore (administrators) -------------------------------------------------------------------
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
    return _deleted_page(request, ctx, message=_NOTICES.get(done or ""))


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
    return _redirect(DELETED_PATH, "restored")


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
    return _redirect(f"/manage/project/{name}/releases/", "restored")
