"""Held uploads and the provenance pattern, for a project's owners.

- ``/manage/project/<name>/held/``: the files held because they broke the project's provenance
  pattern (:mod:`stockade.publish.regression`); an owner confirms a held release, or discards
  it, with a second factor (a code of their authenticator app, or a recovery code).
- ``/manage/project/<name>/publishing/provenance/``: what happens to such uploads (refuse, hold,
  warn, or the index's setting), and ``…/reset/``: a new pattern starts now (the owners are
  moving the project's CI on purpose). Both are on the project's publishing page.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import prove_second_factor
from stockade.index.models import Project
from stockade.index.project_settings import reset_provenance_pattern, set_provenance_regression
from stockade.index.rules import NotAllowed
from stockade.publish.errors import UploadError
from stockade.publish.holds import (
    check_owner,
    confirm_release,
    discard_release,
    find_project,
    held_files,
)
from stockade.web.auth import LoginRequired, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import OwnerAccess, ProjectAccess, ProjectNotFound
from stockade.web.manage.common import form_fields
from stockade.web.oidc.pages import project_page
from stockade.web.templating import render

__all__ = ["router"]

# Forms posted by signed-in owners: CSRF-protected.
router = APIRouter(dependencies=[Depends(csrf_protect)])

HELD_PAGE = "/manage/project/{project_name}/held/"
PROVENANCE_FORM = "/manage/project/{project_name}/publishing/provenance/"
_NOTICES = {
    "confirmed": "The release is confirmed: its files are published.",
    "discarded": "The held release is discarded.",
}
_WRONG_CODE = (
    "That code is not valid: enter a current code of your authenticator app, or a recovery code."
)


def _page(
    request: Request,
    ctx: AppContext,
    access: ProjectAccess,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with ctx.db.read() as session:
        project = session.get(Project, access.project_id)
        if project is None:
            raise ProjectNotFound(access.name)
        held = held_files(session, project)
    versions: dict[str, list[object]] = {}
    for h in held:
        versions.setdefault(h.version, []).append(h)
    values = {
        "access": access,
        "versions": versions,
        "notice": _NOTICES.get(done or ""),
        "error": error,
    }
    return render(request, "manage/held.html", values, status_code=status_code)


@router.get(HELD_PAGE, include_in_schema=False)
def held_page(
    project_name: str, request: Request, ctx: Ctx, access: OwnerAccess, done: str | None = None
) -> Response:
    """The project's held releases, each with the forms to confirm or discard it."""
    if project_name != access.normalized_name:
        return RedirectResponse(HELD_PAGE.format(project_name=access.normalized_name), 301)
    return _page(request, ctx, access, done=done)


def _prove(ctx: AppContext, access: ProjectAccess, code: str, request: Request) -> User:
    """The signed-in owner, once their second factor checked out."""
    with ctx.db.write() as session:
        user = session.get(User, access.identity.user_id)
        if user is None or not user.is_active:
            raise LoginRequired
        project = find_project(session, access.normalized_name)
        check_owner(session, user, project)
        if not prove_second_factor(
            session, user.id, code, origin=origin_of(request), now=ctx.clock()
        ):
            raise UploadError(403, _WRONG_CODE)
        session.expunge(user)
        return user


@router.post(HELD_PAGE + "{version}/confirm/", include_in_schema=False)
async def confirm_held(version: str, request: Request, ctx: Ctx, access: OwnerAccess) -> Response:
    """Publish a held release, with a second factor."""
    return await _decide("confirm", version, request, ctx, access)


@router.post(HELD_PAGE + "{version}/discard/", include_in_schema=False)
async def discard_held(version: str, request: Request, ctx: Ctx, access: OwnerAccess) -> Response:
    """Drop a held release, with a second factor."""
    return await _decide("discard", version, request, ctx, access)


async def _decide(
    action: str, version: str, request: Request, ctx: AppContext, access: ProjectAccess
) -> Response:
    fields = await form_fields(request, "code")
    if not fields["code"].strip():
        return _page(request, ctx, access, error="Enter a code to decide.", status_code=400)
    origin = origin_of(request)

    def decide() -> None:
        owner = _prove(ctx, access, fields["code"], request)
        if action == "confirm":
            confirm_release(
                ctx.db,
                ctx.storage,
                ctx.settings,
                name=access.normalized_name,
                version=version,
                owner=owner,
                origin=origin,
                via="web",
            )
            return
        with ctx.db.write() as session:
            project = find_project(session, access.normalized_name)
            discard_release(session, project, version, owner=owner, origin=origin, via="web")

    try:
        await run_in_threadpool(decide)
    except UploadError as exc:
        return _page(request, ctx, access, error=exc.message, status_code=exc.status)
    if action == "confirm":
        ctx.pages.invalidate(access.normalized_name, root=True)
    path = HELD_PAGE.format(project_name=access.normalized_name)
    return RedirectResponse(f"{path}?done={action}ed", status_code=303)


@router.post(PROVENANCE_FORM, include_in_schema=False)
@router.post(PROVENANCE_FORM + "reset/", include_in_schema=False)
async def provenance_settings(request: Request, ctx: Ctx, access: OwnerAccess) -> Response:
    """The owners' choice for uploads that break the pattern, or a new pattern from now."""
    reset = request.url.path.endswith("/reset/")
    fields = await form_fields(request, "mode")
    mode = fields["mode"]
    if not reset and mode not in ("index", "refuse", "hold", "warn"):
        return project_page(
            request,
            ctx,
            access,
            error="Choose refuse, hold, warn or the index's setting.",
            status_code=400,
        )
    origin = origin_of(request)

    def change() -> None:
        with ctx.db.write() as session:
            user = session.get(User, access.identity.user_id)
            project = session.get(Project, access.project_id)
            if user is None or not user.is_active:
                raise LoginRequired
            if project is None:
                raise ProjectNotFound(access.name)
            if reset:
                reset_provenance_pattern(session, actor=user, project=project, origin=origin)
            else:
                set_provenance_regression(
                    session,
                    actor=user,
                    project=project,
                    mode=None if mode == "index" else mode,
                    origin=origin,
                )

    try:
        await run_in_threadpool(change)
    except NotAllowed as exc:
        return project_page(request, ctx, access, error=str(exc), status_code=403)
    path = f"/manage/project/{access.normalized_name}/publishing/"
    return RedirectResponse(f"{path}?done={'pattern-reset' if reset else 'provenance'}", 303)
