"""Publisher management pages.

- ``/manage/project/<name>/publishing/``: a project's trusted publishers (owners add GitHub,
  GitLab and Google publishers and remove any; administrators also add generic OIDC ones).
- ``/manage/account/publishing/``: the user's pending publishers (for projects to be created).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from stockade.accounts.models import User
from stockade.index.models import Project
from stockade.oidc import services
from stockade.oidc.exchange import audience_for
from stockade.oidc.publishers import FIELDS, PublisherError, build_spec, describe
from stockade.publish.holds import held_files
from stockade.web.auth import CurrentUser, Identity, LoginRequired
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import OwnerAccess, ProjectAccess, ProjectNotFound
from stockade.web.manage.common import form_fields
from stockade.web.templating import render

__all__ = ["project_page", "router"]

router = APIRouter()

PROJECT_PAGE = "/manage/project/{project_name}/publishing/"
ACCOUNT_PAGE = "/manage/account/publishing/"
# Owners register these; generic OIDC issuers are trusted by administrators only.
OWNER_PROVIDERS = ("github", "gitlab", "google")
_NOTICES = {
    "added": "The trusted publisher is added.",
    "removed": "The trusted publisher is removed; its upload tokens no longer work.",
    "pending-added": "The pending publisher is added.",
    "pending-removed": "The pending publisher is removed.",
    "provenance": "The choice for uploads that break the provenance pattern is saved.",
    "pattern-reset": "A new provenance pattern starts now: the releases so far set none.",
}


def _issuers(ctx: AppContext) -> dict[str, str]:
    settings = ctx.settings
    return {
        "github": settings.oidc_github_issuer,
        "gitlab": settings.oidc_gitlab_issuer,
        "google": settings.oidc_google_issuer,
    }


def project_page(
    request: Request,
    ctx: AppContext,
    access: ProjectAccess,
    *,
    done: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with ctx.db.read() as session:
        publishers = [
            {"id": p.id, "provider": p.provider, "text": describe(p), "created_at": p.created_at}
            for p in services.project_publishers(session, access.project_id)
        ]
        project = session.get(Project, access.project_id)
        if project is None:
            raise ProjectNotFound(access.name)
        provenance = {
            "mode": project.provenance_regression or "index",
            "index_mode": ctx.settings.provenance_regression,
            "window": ctx.settings.provenance_window,
            "since": project.provenance_pattern_since,
            "held": len(held_files(session, project)),
        }
    values: dict[str, Any] = {
        "access": access,
        "publishers": publishers,
        "providers": [p for p in FIELDS if p in OWNER_PROVIDERS or access.identity.is_admin],
        "audience": audience_for(ctx.settings, ctx.link_base(request)),
        "issuers": _issuers(ctx),
        "notice": _NOTICES.get(done or ""),
        "error": error,
        "form": form or {},
        "provenance": provenance,
    }
    return render(request, "manage/publishing.html", values, status_code=status_code)


@router.get(PROJECT_PAGE, include_in_schema=False)
def project_publishing(
    project_name: str, request: Request, ctx: Ctx, access: OwnerAccess, done: str | None = None
) -> Response:
    """The project's trusted publishers and the forms to add one (owners, administrators)."""
    if project_name != access.normalized_name:
        path = PROJECT_PAGE.format(project_name=access.normalized_name)
        return RedirectResponse(path, status_code=301)
    return project_page(request, ctx, access, done=done)


def _active_user(ctx: AppContext, identity: Identity) -> None:
    with ctx.db.read() as session:
        user = session.get(User, identity.user_id)
        if user is None or not user.is_active:
            raise LoginRequired


@router.post(PROJECT_PAGE + "{provider}/", include_in_schema=False)
async def add_project_publisher(
    provider: str, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Add a publisher of ``provider`` (github, gitlab, google; oidc for administrators)."""
    if provider not in FIELDS or (provider not in OWNER_PROVIDERS and not access.identity.is_admin):
        return project_page(
            request, ctx, access, error=f"Unknown provider {provider!r}.", status_code=404
        )
    fields = await form_fields(request, *FIELDS[provider])
    origin = origin_of(request)

    def add() -> None:
        _active_user(ctx, access.identity)
        spec = build_spec(provider, fields)
        with ctx.db.write() as session:
            project = session.get(Project, access.project_id)
            if project is None:
                raise ProjectNotFound(access.name)
            services.add_publisher(
                session, project, spec, origin=origin, actor_id=access.identity.user_id
            )

    try:
        await run_in_threadpool(add)
    except PublisherError as exc:
        form = {"provider": provider, **fields}
        return project_page(request, ctx, access, error=str(exc), form=form, status_code=400)
    path = PROJECT_PAGE.format(project_name=access.normalized_name)
    return RedirectResponse(f"{path}?done=added", status_code=303)


@router.post(PROJECT_PAGE + "{publisher_id:int}/remove/", include_in_schema=False)
async def remove_project_publisher(
    publisher_id: int, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Remove one of the project's publishers."""
    origin = origin_of(request)

    def remove() -> None:
        _active_user(ctx, access.identity)
        with ctx.db.write() as session:
            project = session.get(Project, access.project_id)
            if project is None:
                raise ProjectNotFound(access.name)
            services.remove_publisher(
                session, project, publisher_id, origin=origin, actor_id=access.identity.user_id
            )

    try:
        await run_in_threadpool(remove)
    except PublisherError as exc:
        return project_page(request, ctx, access, error=str(exc), status_code=404)
    path = PROJECT_PAGE.format(project_name=access.normalized_name)
    return RedirectResponse(f"{path}?done=removed", status_code=303)


# -- pending publishers ------------------------------------------------------------------------


def _account_page(
    request: Request,
    ctx: AppContext,
    identity: Identity,
    *,
    done: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with ctx.db.read() as session:
        pending = [
            {
                "id": p.id,
                "project_name": p.project_name,
                "text": describe(p),
                "expires_at": p.expires_at,
            }
            for p in services.pending_publishers(session, identity.user_id)
        ]
    values: dict[str, Any] = {
        "pending": pending,
        "providers": list(OWNER_PROVIDERS),
        "lifetime_days": services.PENDING_LIFETIME.days,
        "audience": audience_for(ctx.settings, ctx.link_base(request)),
        "notice": _NOTICES.get(done or ""),
        "error": error,
        "form": form or {},
    }
    return render(request, "accounts/publishing.html", values, status_code=status_code)


@router.get(ACCOUNT_PAGE, include_in_schema=False)
def account_publishing(
    request: Request, ctx: Ctx, identity: CurrentUser, done: str | None = None
) -> Response:
    """The user's pending publishers and the forms to add one."""
    return _account_page(request, ctx, identity, done=done)


@router.post(ACCOUNT_PAGE + "{provider}/", include_in_schema=False)
async def add_pending(provider: str, request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """Add a pending publisher of ``provider`` for a project name nobody uses yet."""
    if provider not in OWNER_PROVIDERS:
        return _account_page(
            request, ctx, identity, error=f"Unknown provider {provider!r}.", status_code=404
        )
    fields = await form_fields(request, "project_name", *FIELDS[provider])
    origin = origin_of(request)

    def add() -> None:
        spec = build_spec(provider, fields)
        with ctx.db.write() as session:
            user = session.get(User, identity.user_id)
            if user is None or not user.is_active:
                raise LoginRequired
            name = fields["project_name"].strip()
            if not name:
                raise PublisherError("The project name is required.")
            services.add_pending_publisher(session, ctx.settings, user, name, spec, origin=origin)

    try:
        await run_in_threadpool(add)
    except PublisherError as exc:
        form = {"provider": provider, **fields}
        return _account_page(request, ctx, identity, error=str(exc), form=form, status_code=400)
    return RedirectResponse(ACCOUNT_PAGE + "?done=pending-added", status_code=303)


@router.post(ACCOUNT_PAGE + "{pending_id:int}/remove/", include_in_schema=False)
async def remove_pending(
    pending_id: int, request: Request, ctx: Ctx, identity: CurrentUser
) -> Response:
    """Withdraw one of the user's pending publishers."""
    origin = origin_of(request)

    def remove() -> None:
        with ctx.db.write() as session:
            services.remove_pending_publisher(
                session, identity.user_id, pending_id, origin=origin, actor_id=identity.user_id
            )

    try:
        await run_in_threadpool(remove)
    except PublisherError as exc:
        return _account_page(request, ctx, identity, error=str(exc), status_code=404)
    return RedirectResponse(ACCOUNT_PAGE + "?done=pending-removed", status_code=303)
