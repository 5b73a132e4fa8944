"""Public pages: home, search, and the project page (latest release or one version)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from packaging.utils import canonicalize_name
from starlette.responses import RedirectResponse, Response

from stockade.index.browse import (
    MAX_PAGE,
    project_is_listed,
    recent_projects,
    search_projects,
)
from stockade.web.abuse.quarantined import quarantined_page
from stockade.web.auth import MaybeUser, csrf_protect
from stockade.web.context import Ctx
from stockade.web.index.project_view import ProjectView, load_project_view
from stockade.web.index.readme import RenderedReadme, rendered_for_release
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])


@router.get("/", include_in_schema=False)
def home(request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """The home page: a search box and the recently updated projects."""
    with ctx.db.read() as session:
        projects = recent_projects(session)
    return render(request, "home.html", {"projects": projects, "base_url": ctx.base_url(request)})


def _page_number(raw: str | None) -> int:
    try:
        return min(max(int(raw or "1"), 1), MAX_PAGE)
    except ValueError:
        return 1


@router.get("/search/", include_in_schema=False)
def search(request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """``/search/?q=…&page=…``: projects by name and summary, best matches first."""
    raw = request.query_params.get("q", "")
    page = _page_number(request.query_params.get("page"))
    with ctx.db.read() as session:
        results = search_projects(session, raw, page)
    return render(request, "search.html", {"results": results, "search_query": results.query})


def _not_found(request: Request, name: str, version: str | None = None) -> Response:
    context = {"name": name, "version": version}
    return render(request, "not_found.html", context, status_code=404)


def _readme(view: ProjectView) -> RenderedReadme | None:
    if not view.description.strip():
        return None
    return rendered_for_release(view.release_id, view.description, view.description_content_type)


def _project(request: Request, ctx: Ctx, name: str, version: str | None) -> Response:
    normalized = canonicalize_name(name)
    if name != normalized:
        suffix = f"{quote(version)}/" if version is not None else ""
        return RedirectResponse(f"/project/{normalized}/{suffix}", status_code=301)
    with ctx.db.read() as session:
        view = load_project_view(session, normalized, version, base_url=ctx.base_url(request))
        listed = view is not None or (
            version is not None and project_is_listed(session, normalized)
        )
    if view is None:
        # Owners and administrators still see a quarantined project (stockade.abuse).
        hidden = quarantined_page(request, ctx, normalized)
        if hidden is not None:
            return hidden
        # "No release 9.9" only when the project itself can be shown.
        return _not_found(request, name, version if listed else None)
    if version is not None and version != view.version:
        # One URL per release: /project/x/1.0.0/ becomes /project/x/1.0/ for release "1.0".
        return RedirectResponse(f"/project/{normalized}/{quote(view.version)}/", status_code=301)
    context = {"view": view, "readme": _readme(view), "base_url": ctx.base_url(request)}
    return render(request, "project.html", context)


@router.get("/project/{name}/", include_in_schema=False)
def project_page(name: str, request: Request, ctx: Ctx, identity: MaybeUser) -> Response:
    """A project's page for its latest release."""
    return _project(request, ctx, name, None)


@router.get("/project/{name}/{version}/", include_in_schema=False)
def release_page(
    name: str, version: str, request: Request, ctx: Ctx, identity: MaybeUser
) -> Response:
    """A project's page for one release."""
    return _project(request, ctx, name, version)
