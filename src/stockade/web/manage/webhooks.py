"""A project's webhooks: owners add one (its signing secret shown once), send a test, read
the delivery log, remove one. Administrators may let one send to private addresses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.accounts.models import User
from stockade.errors import ServiceError
from stockade.index.models import Project
from stockade.web.auth import csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.guards import OwnerAccess, ProjectNotFound
from stockade.web.manage.common import run_as
from stockade.web.templating import render
from stockade.webhooks import services
from stockade.webhooks.models import Webhook, WebhookDelivery

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

WEBHOOKS = "/manage/project/{project_name}/webhooks/"
_LOG_LENGTH = 10
# Notices are chosen by a code from the query string, never taken from it.
_NOTICES = {
    "removed": "The webhook is removed.",
    "test-ok": "The test delivery was accepted.",
    "test-failed": "The test delivery failed: see the delivery log.",
}


def _path(normalized_name: str, done: str | None = None) -> str:
    path = f"/manage/project/{normalized_name}/webhooks/"
    return f"{path}?done={done}" if done else path


def _page(
    request: Request,
    ctx: AppContext,
    access: OwnerAccess,
    *,
    notice: str | None = None,
    error: str | None = None,
    created: Webhook | None = None,
    status_code: int = 200,
) -> Response:
    with ctx.db.read() as session:
        project = session.get(Project, access.project_id)
        if project is None:
            raise ProjectNotFound(access.name)
        hooks: list[dict[str, Any]] = []
        for hook in services.webhooks_of(session, project.id):
            log = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == hook.id)
                .order_by(WebhookDelivery.id.desc())
                .limit(_LOG_LENGTH)
            ).all()
            hooks.append({"hook": hook, "log": log})
        values = {
            "access": access,
            "hooks": hooks,
            "kinds": sorted(set(services.KINDS.values())),
            "created": created,
            "notice": notice,
            "error": error,
        }
    return render(request, "manage/webhooks.html", values, status_code=status_code)


@router.get(WEBHOOKS, include_in_schema=False)
def webhooks_page(
    project_name: str, request: Request, ctx: Ctx, access: OwnerAccess, done: str | None = None
) -> Response:
    """The project's webhooks and their delivery logs (owners and administrators)."""
    if project_name != access.normalized_name:
        return RedirectResponse(_path(access.normalized_name), status_code=301)
    return _page(request, ctx, access, notice=_NOTICES.get(done or ""))


@router.post(WEBHOOKS + "add/", include_in_schema=False)
async def add_webhook_form(request: Request, ctx: Ctx, access: OwnerAccess) -> Response:
    """Add a webhook (``url``, the chosen ``event`` kinds; ``allow_private`` for an
    administrator); the page then shows its signing secret, once."""
    form = await request.form()
    url = form.get("url")
    kinds = [k for k in form.getlist("event") if isinstance(k, str)]
    allow_private = form.get("allow_private") == "on" and access.identity.is_admin
    origin = origin_of(request)

    def add(session: Session, user: User) -> Webhook:
        project = session.get(Project, access.project_id)
        if project is None:
            raise ProjectNotFound(access.name)
        hook = services.create_webhook(
            session,
            ctx.settings,
            url if isinstance(url, str) else "",
            project=project,
            created_by_id=user.id,
            origin=origin,
            kinds=kinds or None,
            allow_private=allow_private,
        )
        session.flush()
        session.expunge(hook)
        return hook

    try:
        created = await run_in_threadpool(run_as, ctx, access.identity, add)
    except ServiceError as exc:
        return _page(request, ctx, access, error=exc.message, status_code=exc.status_code)
    return _page(request, ctx, access, created=created, status_code=201)


def _own_hook(session: Session, access: OwnerAccess, hook_id: int) -> Webhook:
    hook = session.get(Webhook, hook_id)
    if hook is None or hook.project_id != access.project_id:
        raise ServiceError(404, "No such webhook on this project.")
    return hook


@router.post(WEBHOOKS + "{hook_id}/remove/", include_in_schema=False)
async def remove_webhook_form(
    hook_id: int, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Remove one of the project's webhooks."""
    origin = origin_of(request)

    def remove(session: Session, user: User) -> None:
        hook = _own_hook(session, access, hook_id)
        services.remove_webhook(session, hook, actor_id=user.id, origin=origin)

    try:
        await run_in_threadpool(run_as, ctx, access.identity, remove)
    except ServiceError as exc:
        return _page(request, ctx, access, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(_path(access.normalized_name, "removed"), status_code=303)


@router.post(WEBHOOKS + "{hook_id}/test/", include_in_schema=False)
async def test_webhook_form(
    hook_id: int, request: Request, ctx: Ctx, access: OwnerAccess
) -> Response:
    """Send a test delivery now."""

    def check(session: Session, user: User) -> None:
        _own_hook(session, access, hook_id)

    try:
        await run_in_threadpool(run_as, ctx, access.identity, check)
        attempt = await run_in_threadpool(services.send_test, ctx.db, ctx.settings, hook_id)
    except ServiceError as exc:
        return _page(request, ctx, access, error=exc.message, status_code=exc.status_code)
    done = "test-ok" if attempt.ok else "test-failed"
    return RedirectResponse(_path(access.normalized_name, done), status_code=303)
