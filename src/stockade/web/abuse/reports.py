"""Malware reports: the form on ``/project/<name>/report/`` (logged-in users) and
``POST /api/reports`` (an API token, JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from packaging.utils import canonicalize_name
from sqlalchemy import select
from starlette.responses import JSONResponse, Response

from stockade.abuse.errors import AbuseError
from stockade.abuse.reports import REPORTS_PER_USER, file_report
from stockade.accounts.models import User
from stockade.db import ratelimit
from stockade.index.models import Project, Release
from stockade.tokens.services import TokenError, check_token
from stockade.web.abuse.common import after_commit, mailing_for
from stockade.web.auth import CurrentUser, csrf_protect
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.jsonbody import BodyError, read_json
from stockade.web.templating import render
from stockade.web.tokens.http import request_token

__all__ = ["api_router", "router"]

# The API authenticates with a token, not a session: no CSRF check there.
api_router = APIRouter()
router = APIRouter(dependencies=[Depends(csrf_protect)])

# Failed token checks on the report API per client address (guessing tokens).
API_AUTH_FAILURES = ratelimit.Limit(count=60, seconds=900)
MAX_API_BODY = 64 * 1024


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


@router.get("/project/{name}/report/", include_in_schema=False)
def report_form(name: str, request: Request, ctx: Ctx, identity: CurrentUser) -> Response:
    """The form to report a project (or one of its releases) as malware."""
    found = _reportable(ctx, name)
    if found is None:
        return render(request, "not_found.html", {"name": name}, status_code=404)
    return _form(request, *found, values={"version": request.query_params.get("version", "")})


@router.post("/project/{name}/report/", include_in_schema=False)
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
                mailing=mailing_for(request, ctx),
            )
    except AbuseError as exc:
        return _form(request, *found, values=values, error=exc.message, status_code=exc.status_code)
    after_commit(ctx, filed.project, filed.messages)
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
                mailing=mailing_for(request, ctx),
            )
    except AbuseError as exc:
        return _json_error(exc.status_code, exc.message)
    after_commit(ctx, filed.project, filed.messages)
    return JSONResponse(
        {"id": filed.report_id, "project": filed.project, "quarantined": filed.quarantined},
        status_code=201,
    )


@api_router.post("/api/reports", include_in_schema=False)
@api_router.post("/api/reports/", include_in_schema=False)
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
    try:
        doc = await read_json(request, MAX_API_BODY)
    except BodyError as exc:
        return _json_error(exc.status, exc.message)
    if not isinstance(doc, dict):
        return _json_error(400, "The body must be a JSON object.")
    unknown = sorted(set(doc) - {"project", "version", "reason", "evidence"})
    if unknown:
        return _json_error(422, f"Unknown field(s): {', '.join(map(repr, unknown))}.")
    response: Response = await run_in_threadpool(_api_file, ctx, request, raw, doc)
    return response
