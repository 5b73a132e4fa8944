"""Public pages: home and the project page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from packaging.utils import canonicalize_name
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from stockade.index import json_api
from stockade.index.models import Project
from stockade.index.routes import load_project
from stockade.web.auth import MaybeUser, csrf_protect
from stockade.web.context import Ctx
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])


@router.get("/", include_in_schema=False)
def home(request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """The home page: recently updated projects."""
    with ctx.db.read() as session:
        projects = session.execute(
            select(Project.name, Project.normalized_name)
            .where(Project.status != "quarantined")
            .order_by(Project.last_serial.desc())
            .limit(50)
        ).all()
    return render(request, "home.html", {"projects": projects, "base_url": ctx.base_url(request)})


@router.get("/project/{name}/", include_in_schema=False)
def project_page(name: str, request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """A project's page: summary, releases, files with hashes and sizes."""
    normalized = canonicalize_name(name)
    if name != normalized:
        return RedirectResponse(f"/project/{normalized}/", status_code=301)
    base = ctx.base_url(request)
    doc = load_project(ctx, normalized, lambda s, p: json_api.project_json(s, p, base))
    if doc is None:
        return render(request, "not_found.html", {"name": name}, status_code=404)
    return render(request, "project.html", {"doc": doc})
