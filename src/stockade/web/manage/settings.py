"""Project settings: the owners' "require 2FA for all maintainers" switch, what the index-wide
2FA policy means for the project, who still lacks 2FA, and administrators' critical pin."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from stockade.accounts.models import User
from stockade.index.models import Project
from stockade.index.policy import TwoFactorPolicy, enforcement_date, rule_summary
from stockade.index.project_settings import (
    members_two_factor,
    pin_critical,
    set_require_2fa,
    unpin_critical,
)
from stockade.index.rules import RoleError, RoleNotFound, find_project
from stockade.web.auth import AdminUser, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import OwnerAccess, ProjectAccess, ProjectNotFound
from stockade.web.manage.common import form_fields, run_as
from stockade.web.templating import render

__all__ = ["router", "settings_path"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

SETTINGS = "/manage/project/{project_name}/settings/"

# Notices are chosen by a code from the query string, never taken from it.
_NOTICES = {
    "required": "Two-factor authentication is now required of every maintainer.",
    "unrequired": "Two-factor authentication is no longer required by this project's owners.",
    "unchanged": "Nothing changed.",
    "pinned": "The project is pinned as critical.",
    "unpinned": "The pin is removed; the project stays critical (critical is permanent).",
}


def settings_path(normalized_name: str, done: str | None = None) -> str:
    """The settings page of a project, with a notice code."""
    path = f"/manage/project/{normalized_name}/settings/"
    return f"{path}?done={done}" if done else path


def _page(
    request: Request,
    ctx: AppContext,
    access: ProjectAccess,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    level = ctx.settings.two_factor_required
    with ctx.db.read() as session:
        project = session.get(Project, access.project_id)
        if project is None:
            raise ProjectNotFound(access.name)
        values = {
            "access": access,
            "level": level,
            "critical": project.critical,
            "critical_since": project.critical_since,
            "critical_pinned": project.critical_pinned,
            "require_2fa": project.require_2fa,
            "summary": rule_summary(level, project, enforce_after=enforcement_date(ctx.settings)),
            "members": members_two_factor(session, project.id),
            "setup_url": TwoFactorPolicy.of(ctx.settings, ctx.base_url(request)).setup_url,
            "notice": notice,
            "error": error,
        }
    return render(request, "manage/settings.html", values, status_code=status_code)


@router.get(SETTINGS, include_in_schema=False)
def settings_page(
    project_name: str, request: Request, ctx: Ctx, access: OwnerAccess, done: str | None = None
) -> Response:
    """The project's 2FA requirement and critical status (owners and administrators)."""
    if project_name != access.normalized_name:
        return RedirectResponse(settings_path(access.normalized_name), status_code=301)
    return _page(request, ctx, access, notice=_NOTICES.get(done or ""))


@router.post(SETTINGS + "2fa/", include_in_schema=False)
async def require_2fa_form(request: Request, ctx: Ctx, access: OwnerAccess) -> Response:
    """Turn "require 2FA for all maintainers" on (checkbox ``require_2fa`` sent) or off."""
    fields = await form_fields(request, "require_2fa")
    enabled = fields["require_2fa"] in {"on", "1", "true"}
    origin = origin_of(request)
    policy = TwoFactorPolicy.of(ctx.settings, ctx.base_url(request))

    def change(session: Session, user: User) -> bool:
        project = session.get(Project, access.project_id)
        if project is None:
            raise RoleNotFound(f"Project {access.name!r} no longer exists.")
        return set_require_2fa(
            session, actor=user, project=project, enabled=enabled, policy=policy, origin=origin
        )

    try:
        changed = await run_in_threadpool(run_as, ctx, access.identity, change)
    except RoleError as exc:
        return _page(request, ctx, access, error=exc.message, status_code=exc.status_code)
    done = ("required" if enabled else "unrequired") if changed else "unchanged"
    return RedirectResponse(settings_path(access.normalized_name, done), status_code=303)


@router.post("/admin/projects/{project_name}/critical/", include_in_schema=False)
async def critical_pin_form(
    project_name: str, request: Request, ctx: Ctx, admin: AdminUser
) -> Response:
    """Pin the project as critical (``action=pin``) or remove the pin (``action=unpin``; the
    project stays critical)."""
    fields = await form_fields(request, "action")
    if fields["action"] not in {"pin", "unpin"}:
        return PlainTextResponse("The action must be 'pin' or 'unpin'.\n", status_code=400)
    origin = origin_of(request)

    def change(session: Session, user: User) -> tuple[str, bool]:
        project = find_project(session, project_name)
        if project is None:
            raise ProjectNotFound(project_name)
        service = pin_critical if fields["action"] == "pin" else unpin_critical
        result = service(session, project=project, origin=origin, actor_id=user.id)
        return project.normalized_name, result.changed

    normalized, changed = await run_in_threadpool(run_as, ctx, admin, change)
    done = ("pinned" if fields["action"] == "pin" else "unpinned") if changed else "unchanged"
    return RedirectResponse(settings_path(normalized, done), status_code=303)
