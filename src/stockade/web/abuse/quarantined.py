"""The page owners and administrators see for a quarantined project (everyone else gets the
usual 404)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from stockade.abuse.models import REPORT_OPEN, Report
from stockade.index.models import Project, Role
from stockade.web.auth import Identity
from stockade.web.context import AppContext
from stockade.web.templating import render

__all__ = ["quarantined_page"]


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
