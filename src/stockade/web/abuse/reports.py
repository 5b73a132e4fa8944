"""Malware reports (form and API), the admin report queue, prohibited names, trusted reporters,
and the page owners and administrators see for a quarantined project."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from packaging.utils import canonicalize_name
from sqlalchemy import select
from starlette.responses import JSONResponse, RedirectResponse, Response

from stockade.abuse.errors import AbuseError
from stockade.abuse.models import REPORT_OPEN, Report
from stockade.abuse.naming import prohibit, prohibited_names, unprohibit
from stockade.abuse.quarantine import Mailing, clear, dismiss, quarantine, remove
from stockade.abuse.reports import REPORTS_PER_USER, file_report, open_queue
from stockade.abuse.trust import set_trusted
from stockade.accounts.models import User
from stockade.accounts.services import find_user
from stockade.db import ratelimit
from stockade.index.models import Project, Release, Role
from stockade.lifecycle.changes import announce
from stockade.lifecycle.errors import LifecycleError
from stockade.mail import Message, deliver
from stockade.tokens.services import TokenError, check_token
from stockade.web.auth import AdminUser, CurrentUser, Identity, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render
from stockade.web.tokens.http import request_token

__all__ = ["quarantined_page", "router"]

# The API authenticates with a token, not a session: no CSRF check there.
router = APIRouter()
pages = APIRouter(dependencies=[Depends(csrf_protect)])

# Failed token checks on the report API per client address (guessing tokens).
API_AUTH_FAILURES = ratelimit.Limit(count=60, seconds=900)
MAX_API_BODY = 64 * 1024


def _mailing(request: Request, ctx: AppContext) -> Mailing:
    return Mailing(site_name=ctx.settings.site_name, base_url=ctx.link_base(request))


def _after_commit(ctx: AppContext, normalized: str, messages: list[Message]) -> None:
    announce(ctx.pages, normalized)
    deliver(ctx.mailer, *messages)


# -- the report form ----------------------------------------------------------------------------
def _reportable(ctx: AppContext, name: str) -> tuple[Project, list[str]] | None:
    with ctx.db.read() as session:
        project = session.scalar(
            select(Project).where(Project.normalized_name == canonicalize_name(name))
        )
        if project is None or project.deletion_id is not None or project.status == "quarantined":
            return None
        versions = list(
            session.scalars(
                select(Release.version)
                .where(Release.project_id == project.id, Release.deletion_id.is_(None))
                .order_by(Release.id.desc())
            )
        )
        session.expunge(project)
    return project, versions


def _form(
    request: Request,
    project: Project,
    versions: list[str],
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {"project": project, "versions": versions, "values": values or {}, "error": error}
    return render(request, "abuse/report.html", context, status_code=status_code)


@pages.get("/project/{name}/report/", include_in_schema=False)
def report_form(name: str, request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """The form to report a project (or one of its releases) as malware."""
    found = _reportable(ctx, name)
    if found is None:
        return render(request, "not_found.html", {"name": name}, status_code=404)
    return _form(request, *found, values={"version": request.query_params.get("version", "")})


@pages.post("/project/{name}/report/", include_in_schema=False)
def report_submit(
    name: str,
    request: Request,
    ctx: Ctx,
    identity: CurrentUser,
    reason: Annotated[str, Form()] = "",
    evidence: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> Response:
    """File the report; a trusted reporter's may quarantine the project at once."""
    found = _reportable(ctx, name)
    if found is None:
        return render(request, "not_found.html", {"name": name}, status_code=404)
    values = {"reason": reason, "evidence": evidence, "version": version}
    ratelimit.hit(ctx.db, f"report:user:{identity.user_id}", REPORTS_PER_USER)
    try:
        with ctx.db.write() as session:
            reporter = session.get(User, identity.user_id)
            assert reporter is not None  # the session was just loaded
            filed = file_report(
                session,
                reporter=reporter,
                project_name=found[0].normalized_name,
                version=version,
                reason=reason,
                evidence=evidence,
                via="web",
                origin=origin_of(request),
                mailing=_mailing(request, ctx),
            )
    except AbuseError as exc:
        return _form(request, *found, values=values, error=exc.message, status_code=exc.status_code)
    _after_commit(ctx, filed.project, filed.messages)
    return render(request, "abuse/report_filed.html", {"project": found[0], "filed": filed})


# -- the report API -----------------------------------------------------------------------------
def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _api_file(ctx: AppContext, request: Request, raw: str, doc: dict[str, Any]) -> Response:
    try:
        with ctx.db.read() as session:
            token = check_token(session, raw, secret_key=ctx.settings.secret_key)
    except TokenError as exc:
        host = request.client.host if request.client else "unknown"
        ratelimit.hit(ctx.db, f"report-auth:ip:{host}", API_AUTH_FAILURES)
        return _json_error(403, f"Invalid API Token: {exc}.")
    if token.publisher_id is not None:
        # A trusted publisher's upload token belongs to a CI job, not to a person who can report.
        return _json_error(403, "Invalid API Token: trusted-publisher tokens cannot file reports.")
    try:
        ratelimit.hit(ctx.db, f"report:user:{token.user_id}", REPORTS_PER_USER)
    except ratelimit.RateLimited as exc:
        return _json_error(429, str(exc), {"Retry-After": str(exc.retry_after)})
    try:
        with ctx.db.write() as session:
            reporter = session.get(User, token.user_id)
            assert reporter is not None  # check_token refuses tokens of missing users
            filed = file_report(
                session,
                reporter=reporter,
                project_name=doc.get("project"),
                version=doc.get("version"),
                reason=doc.get("reason"),
                evidence=doc.get("evidence"),
                via="api",
                origin=origin_of(request),
                mailing=_mailing(request, ctx),
            )
    except AbuseError as exc:
        return _json_error(exc.status_code, exc.message)
    _after_commit(ctx, filed.project, filed.messages)
    return JSONResponse(
        {"id": filed.report_id, "project": filed.project, "quarantined": filed.quarantined},
        status_code=201,
    )


@router.post("/api/reports", include_in_schema=False)
@router.post("/api/reports/", include_in_schema=False)
async def api_report(request: Request, ctx: Ctx) -> Response:
    """File a malware report with an API token: JSON ``{"project", "version"?, "reason",
    "evidence"}`` answers 201 ``{"id", "project", "quarantined"}``."""
    raw = request_token(request)
    if raw is None:
        return _json_error(
            401,
            "Authenticate with an API token: 'Authorization: Bearer <token>', or HTTP Basic with "
            "the username __token__.",
            {"WWW-Authenticate": 'Bearer realm="stockade"'},
        )
    body = await request.body()
    if len(body) > MAX_API_BODY:
        return _json_error(413, f"The report is too large: at most {MAX_API_BODY} bytes.")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _json_error(400, "The body must be a JSON object.")
    if not isinstance(doc, dict):
        return _json_error(400, "The body must be a JSON object.")
    unknown = sorted(set(doc) - {"project", "version", "reason", "evidence"})
    if unknown:
        return _json_error(422, f"Unknown field(s): {', '.join(map(repr, unknown))}.")
    response: Response = await run_in_threadpool(_api_file, ctx, request, raw, doc)
    return response


# -- the admin queue ----------------------------------------------------------------------------
_DONE = {
    "quarantined": "Project {} is quarantined.",
    "cleared": "Project {} is cleared and active again.",
    "removed": "Project {} is removed and its name prohibited.",
    "dismissed": "The reports on {} are dismissed.",
}


@pages.get("/admin/reports/", include_in_schema=False)
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
    _after_commit(ctx, normalized, messages)
    return RedirectResponse(f"/admin/reports/?done={done}&project={normalized}", status_code=303)


@pages.post("/admin/reports/{project_name}/quarantine/", include_in_schema=False)
def admin_quarantine(
    project_name: str,
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Quarantine the project."""
    origin, mailing = origin_of(request), _mailing(request, ctx)
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


@pages.post("/admin/reports/{project_name}/clear/", include_in_schema=False)
def admin_clear(project_name: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Clear the quarantine: the project is active again and its reports resolved."""
    origin, mailing = origin_of(request), _mailing(request, ctx)
    return _project_action(
        request,
        ctx,
        admin,
        project_name,
        "cleared",
        lambda s, p: clear(s, p, origin=origin, actor_id=admin.user_id, mailing=mailing),
    )


@pages.post("/admin/reports/{project_name}/dismiss/", include_in_schema=False)
def admin_dismiss(project_name: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Close the reports of a project that is not quarantined, with no action."""
    origin = origin_of(request)

    def action(session: Any, project: Project) -> list[Message]:
        dismiss(session, project, origin=origin, actor_id=admin.user_id)
        return []

    return _project_action(request, ctx, admin, project_name, "dismissed", action)


@pages.post("/admin/reports/{project_name}/remove/", include_in_schema=False)
def admin_remove(
    project_name: str,
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    confirm: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Delete the project and prohibit its name; the name must be typed to confirm."""
    origin, mailing = origin_of(request), _mailing(request, ctx)

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


@pages.get("/admin/prohibited/", include_in_schema=False)
def prohibited_list(request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """The prohibited names, and the form to add one."""
    return _prohibited_page(request, ctx)


@pages.post("/admin/prohibited/", include_in_schema=False)
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


@pages.post("/admin/prohibited/{project_name}/remove/", include_in_schema=False)
def prohibited_remove(project_name: str, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Allow a prohibited name again."""
    try:
        with ctx.db.write() as session:
            unprohibit(session, project_name, origin=origin_of(request), actor_id=admin.user_id)
    except AbuseError as exc:
        return _prohibited_page(request, ctx, error=exc.message, status_code=exc.status_code)
    return RedirectResponse("/admin/prohibited/?done=removed", status_code=303)


# -- trusted reporters --------------------------------------------------------------------------
@pages.post("/admin/users/{username}/trusted-reporter/", include_in_schema=False)
def trusted_reporter(
    username: str,
    request: Request,
    ctx: Ctx,
    admin: AdminUser,
    trusted: Annotated[str, Form()],
) -> Response:
    """Mark (trusted=1) or unmark (trusted=0) an account as a trusted reporter."""
    with ctx.db.write() as session:
        user = find_user(session, username)
        if user is None:
            return render(request, "not_found.html", {}, status_code=404)
        set_trusted(
            session, user, trusted == "1", origin=origin_of(request), actor_id=admin.user_id
        )
        name = user.username
    return RedirectResponse(f"/admin/users/{name}/", status_code=303)


# -- a quarantined project's page ---------------------------------------------------------------
def quarantined_page(request: Request, ctx: AppContext, normalized_name: str) -> Response | None:
    """The page of a quarantined project for its owners and the administrators; None for anyone
    else (who get the usual 404) and for projects that are not quarantined."""
    identity: Identity | None = getattr(request.state, "identity", None)
    if identity is None:
        return None
    with ctx.db.read() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == normalized_name))
        if project is None or project.status != "quarantined" or project.deletion_id is not None:
            return None
        role = session.scalar(
            select(Role.role_name).where(
                Role.project_id == project.id, Role.user_id == identity.user_id
            )
        )
        if role != "Owner" and not identity.is_admin:
            return None
        reports = session.scalar(
            select(Report.id)
            .where(Report.project_id == project.id, Report.status == REPORT_OPEN)
            .limit(1)
        )
        session.expunge(project)
    context = {"project": project, "has_reports": reports is not None}
    return render(request, "abuse/quarantined.html", context)


router.include_router(pages)
