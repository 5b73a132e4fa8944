"""What the lifecycle pages share: the notices shown after a redirect, the project's management
path, loading the guarded project, and running an action in one write transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from stockade.index.models import Project
from stockade.lifecycle import services
from stockade.lifecycle.errors import LifecycleError
from stockade.web.context import AppContext
from stockade.web.guards import ProjectAccess
from stockade.web.templating import render

__all__ = ["NOTICES", "live_project", "manage_path", "not_found", "redirect_done", "run_action"]

# Notices after a redirect are chosen by a code, never taken from the query string.
NOTICES = {
    "yanked": "Release yanked: installers skip it unless it is pinned.",
    "unyanked": "Release unyanked: installers choose it again.",
    "deleted": "Deleted. Its filenames can never be uploaded again.",
    "archived": "Project archived: it is read-only and refuses uploads.",
    "unarchived": "Project unarchived: it accepts uploads again.",
    "restored": "Restored.",
}


def manage_path(access: ProjectAccess) -> str:
    """The project's management path, ``/manage/project/<normalized name>/``."""
    return f"/manage/project/{access.normalized_name}/"


def redirect_done(path: str, done: str) -> Response:
    """A 303 to ``path`` that shows the notice ``done`` (a key of ``NOTICES``)."""
    return RedirectResponse(f"{path}?{urlencode({'done': done})}", status_code=303)


def run_action(ctx: AppContext, action: Callable[[Session], Any], name: str) -> Any:
    """Run ``action`` in one write transaction; after commit this worker drops its cached
    pages and file answers for the project."""
    # Lifecycle changes only write rows: retried whole on a busy database or a deadlock.
    result = ctx.db.run_write(action)
    services.announce(ctx.pages, name)
    return result


def live_project(session: Session, access: ProjectAccess) -> Project:
    """The guarded project, or a 404 ``LifecycleError`` when it was deleted since the check."""
    project = session.get(Project, access.project_id)
    if project is None or project.deletion_id is not None:
        raise LifecycleError(404, f"Project {access.name!r} does not exist.")
    return project


def not_found(request: Request) -> Response:
    """The plain 404 page."""
    return render(request, "not_found.html", {}, status_code=404)
