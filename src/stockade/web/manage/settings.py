"""Project settings: the owners' "require 2FA for all maintainers" switch, what the index-wide
2FA policy means for the project, who still lacks 2FA, and administrators' critical pin."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from stockade.accounts.models import User
from stockade.errors import ServiceError
from stockade.index.models import Project
from stockade.index.policy import TwoFactorPolicy, enforcement_date, rule_summary
from stockade.index.project_settings import (
    members_two_factor,
    pin_critical,
    set_require_2fa,
    unpin_critical,
)
from stockade.index.rules import RoleError, RoleNotFound, find_project
from stockade.verified.models import ProjectDomain
from stockade.verified.services import (
    add_domain,
    check_domain,
    record_name,
    record_value,
    remove_domain,
)
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
    "domain-added": "The domain is listed: add its TXT record, then check it.",
    "domain-verified": "The domain is verified: its URLs are shown as verified details.",
    "domain-unverified": "The TXT record was not found yet (DNS changes can take a while).",
    "domain-unknown": "The DNS lookup failed; try again later.",
    "domain-removed": "The domain is removed.",
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
            "domains": [
                {"row": row, "name": record_name(row.domain), "value": record_value(row.token)}
                for row in session.scalars(
                    select(ProjectDomain)
                    .where(ProjectDomain.project_id == project.id)
                    .order_by(ProjectDomain.domain)
                )
            ],
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


_CHECKED = {True: "domain-verified", False: "domain-unverified", None: "domain-unknown"}


def _own_domain(session: Session, access: OwnerAccess, domain_id: int) -> ProjectDomain:
    row = session.get(ProjectDomain, domain_id)
    if row is None or row.project_id != access.project_id:
        raise ServiceError(404, "No such domain on this project.")
    return row


@router.post(SETTINGS + "domains/add/", include_in_schema=False)
async def add_domain_form(request: Request, ctx: Ctx, access: OwnerAccess) -> Response:
    """List a domain (``domain``) for verification, and look its TXT record up at once."""
    fields = await form_fields(request, "domain")
    origin = origin_of(request)

    def add(session: Session, user: User) -> int:
        project = session.get(Project, access.project_id)
        if project is None:
            raise RoleNotFound(f"Project {access.name!r} no longer exists.")
        return add_domain(session, project, fields["domain"], actor_id=user.id, origin=origin).id

    try:
        domain_id = await run_in_threadpool(run_as, ctx, access.identity, add)
    except (ServiceError, RoleError) as exc:
        status = exc.status_code
        return _page(request, ctx, access, error=exc.message, status_code=status)
    found = await run_in_threadpool(check_domain, ctx.db, ctx.settings, domain_id)
    done = "domain-verified" if found else "domain-added"
    return RedirectResponse(settings_path(access.normalized_name, done), status_code=303)


@router.post(SETTINGS + "domains/{domain_id}/check/", include_in_schema=False)
async def check_domain_form(
    domain_id: int, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Look the domain's TXT record up now."""

    def own(session: Session, user: User) -> None:
        _own_domain(session, access, domain_id)

    try:
        await run_in_threadpool(run_as, ctx, access.identity, own)
    except ServiceError as exc:
        return _page(request, ctx, access, error=exc.message, status_code=exc.status_code)
    found = await run_in_threadpool(check_domain, ctx.db, ctx.settings, domain_id)
    return RedirectResponse(settings_path(access.normalized_name, _CHECKED[found]), status_code=303)


@router.post(SETTINGS + "domains/{domain_id}/remove/", include_in_schema=False)
async def remove_domain_form(
    domain_id: int, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Stop listing a domain: its URLs are no longer shown as verified."""
    origin = origin_of(request)

    def remove(session: Session, user: User) -> None:
        remove_domain(
            session, _own_domain(session, access, domain_id), actor_id=user.id, origin=origin
        )

    try:
        await run_in_threadpool(run_as, ctx, access.identity, remove)
    except ServiceError as exc:
        return _page(request, ctx, access, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(
        settings_path(access.normalized_name, "domain-removed"), status_code=303
    )
