"""``/admin/advisories/``: imported advisories that name no project of this index (often a
misspelled name, or a project this index does not carry)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from stockade.advisories.queries import any_imported, unmatched
from stockade.web.auth import AdminUser
from stockade.web.context import Ctx
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter()


@router.get("/admin/advisories/", include_in_schema=False)
def unmatched_advisories(request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """The live advisories that match no project, newest first."""
    with ctx.db.read() as session:
        imported = any_imported(session)
        total, rows = unmatched(session)
    context = {"imported": imported, "total": total, "rows": rows}
    return render(request, "admin/advisories.html", context)
