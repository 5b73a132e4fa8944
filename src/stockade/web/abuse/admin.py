"""Administrators' abuse pages: the report queue on ``/admin/reports/`` with its quarantine,
clear, dismiss and remove actions, the prohibited names on ``/admin/prohibited/``, and marking
trusted reporters on an account's page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from packaging.utils import canonicalize_name
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.abuse.errors import AbuseError
from stockade.abuse.naming import prohibit, prohibited_names, unprohibit
from stockade.abuse.quarantine import clear, dismiss, quarantine, remove
from stockade.abuse.reports import open_queue
from stockade.abuse.trust import set_trusted
from stockade.accounts.models import User
from stockade.index.models import Project
from stockade.lifecycle.errors import LifecycleError
from stockade.mail import Message
from stockade.web.abuse.common import after_commit, mailing_for
from stockade.web.admin import change_user
from stockade.web.auth import AdminUser, Identity, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])


# -- the report queue ---------------------------------------------------------------------------
_DONE = {
    "quarantined": "Project {} is quarantined.",
    "cleared": "Project {} is cleared and active again.",
    "removed": "Project {} is removed and its name prohibited.",
    "dismissed": "The reports on {} are dismissed.",
}


@router.get("/admin/reports/", include_in_schema=False)
def report_queue(request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Open reports grouped by project: age, owners, reports, reporters (trusted or not)."""
    with ctx.db.read() as session:
        queue = open_queue(session)
    done = _DONE.get(request.query_params.get("done", ""))
    notice = done.format(request.query_params.get("project", "")) if done else None
    return render(request, "admin/reports.html", {"queue": queue, "notice": notice})


def _project_action(
    request: Request,
    ctx: AppContext,
    admin: Identity,
    name: str,
    done: str,
    action: Any,
) -> Response:
    try:
        with ctx.db.write() as session:
            project = session.scalar(
                select(Project).where(Project.normalized_name == canonicalize_name(name))
            )
            if project is None:
                raise AbuseError(404, f"There is no project named {name!r}.")
            normalized = project.normalized_name
            messages: list[Message] = action(session, project)
    except (AbuseError, LifecycleError) as exc:
        with ctx.db.read() as session:
            queue = open_queue(session)
        return render(
            request,
            "admin/reports.html",
            {"queue": queue, "error": exc.message},
            status_code=exc.status_code,
        )
    after_commit(ctx, normalized, messages)
    return RedirectResponse(f"/admin/reports/?done={done}&project={normalized}", status_code=303)


@router.post("/admin/reports/{project_name}/quarantine/", include_in_schema=False)
def admin_quarantine(
    project_name: str,
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Quarantine the project."""
    origin, mailing = origin_of(request), mailing_for(request, ctx)
    return _project_action(
        request,
        ctx,
        admin,
        project_name,
        "quarantined",
        lambda s, p: quarantine(
            s, p, reason, origin=origin, actor_id=admin.user_id, mailing=mailing
        ),
    )


@router.post("/admin/reports/{project_name}/clear/", include_in_schema=False)
def admin_clear(project_name: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Clear the quarantine: the project is active again and its reports resolved."""
    origin, mailing = origin_of(request), mailing_for(request, ctx)
    return _project_action(
        request,
        ctx,
        admin,
        project_name,
        "cleared",
        lambda s, p: clear(s, p, origin=origin, actor_id=admin.user_id, mailing=mailing),
    )


@router.post("/admin/reports/{project_name}/dismiss/", include_in_schema=False)
def admin_dismiss(project_name: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Close the reports of a project that is not quarantined, with no action."""
    origin = origin_of(request)

    def action(session: Any, project: Project) -> list[Message]:
        dismiss(session, project, origin=origin, actor_id=admin.user_id)
        return []

    return _project_action(request, ctx, admin, project_name, "dismissed", action)


@router.post("/admin/reports/{project_name}/remove/", include_in_schema=False)
def admin_remove(
    project_name: str,
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    confirm: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Delete the project and prohibit its name; the name must be typed to confirm."""
    origin, mailing = origin_of(request), mailing_for(request, ctx)

    def action(session: Any, project: Project) -> list[Message]:
        if canonicalize_name(confirm.strip() or "-") != project.normalized_name:
            raise AbuseError(
                400,
                f"Type the project's name ({project.name}) to confirm its removal.",
            )
        return remove(
            session, project, reason, origin=origin, actor_id=admin.user_id, mailing=mailing
        )

    return _project_action(request, ctx, admin, project_name, "removed", action)


# -- prohibited names ---------------------------------------------------------------------------
def _prohibited_page(
    request: Request, ctx: AppContext, *, error: str | None = None, status_code: int = 200
) -> Response:
    with ctx.db.read() as session:
        names = prohibited_names(session)
        creators = {n.created_by_id for n in names if n.created_by_id}
        users = {
            user_id: username
            for user_id, username in session.execute(
                select(User.id, User.username).where(User.id.in_(creators))
            )
        }
    notice = request.query_params.get("done")
    notice = {"added": "Name prohibited.", "removed": "Name allowed again."}.get(notice or "")
    context = {"names": names, "users": users, "error": error, "notice": notice}
    return render(request, "admin/prohibited.html", context, status_code=status_code)


@router.get("/admin/prohibited/", include_in_schema=False)
def prohibited_list(request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """The prohibited names, and the form to add one."""
    return _prohibited_page(request, ctx)


@router.post("/admin/prohibited/", include_in_schema=False)
def prohibited_add(
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    name: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Prohibit a name for new projects (an existing project keeps it)."""
    try:
        with ctx.db.write() as session:
            prohibit(session, name, reason, origin=origin_of(request), actor_id=admin.user_id)
    except AbuseError as exc:
        return _prohibited_page(request, ctx, error=exc.message, status_code=exc.status_code)
    return RedirectResponse("/admin/prohibited/?done=added", status_code=303)


@router.post("/admin/prohibited/{project_name}/remove/", include_in_schema=False)
def prohibited_remove(project_name: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Allow a prohibited name again."""
    try:
        with ctx.db.write() as session:
            unprohibit(session, project_name, origin=origin_of(request), actor_id=admin.user_id)
    except AbuseError as exc:
        return _prohibited_page(request, ctx, error=exc.message, status_code=exc.status_code)
    return RedirectResponse("/admin/prohibited/?done=removed", status_code=303)


# -- trusted reporters --------------------------------------------------------------------------
@router.post("/admin/users/{username}/trusted-reporter/", include_in_schema=False)
def trusted_reporter(
    username: str,
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    trusted: Annotated[str, Form()],
) -> Response:
    """Mark (trusted=1) or unmark (trusted=0) an account as a trusted reporter."""

    def change(session: Session, user: User) -> None:
        set_trusted(
            session, user, trusted == "1", origin=origin_of(request), actor_id=admin.user_id
        )

    return change_user(request, ctx, username, change)
