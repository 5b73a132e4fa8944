"""An organization's public page: ``/org/<name>/``: its projects, the namespaces it holds, and
the members who chose to be shown."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from stockade.index.models import Project
from stockade.orgs.queries import public_org
from stockade.orgs.services import find_org
from stockade.web.context import Ctx
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter()


@router.get("/org/{name}/", include_in_schema=False)
def org_page(name: str, request: Request, ctx: Ctx) -> Response:
    """The public page of an approved organization (404 for a pending or unknown one)."""
    with ctx.db.read() as session:
        org = find_org(session, name)
        shown = public_org(session, org) if org is not None else None
        projects = (
            session.scalars(
                select(Project.name)
                .where(Project.id.in_(shown.project_ids), Project.deletion_id.is_(None))
                .order_by(Project.normalized_name)
            ).all()
            if shown is not None and shown.project_ids
            else []
        )
    if shown is None:
        return render(request, "not_found.html", {"name": name}, status_code=404)
    return render(request, "orgs/org.html", {"org": shown, "projects": projects})
