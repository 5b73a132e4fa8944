"""``/admin/mirror/``: upstream health and cache size, files held back by the cooldown and until
when, origin rules and cooldown exemptions. Changes are made with ``stockade mirror …``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from stockade.mirror.queries import exemptions, held_files, origin_rules, upstream_health
from stockade.web.auth import AdminUser, csrf_protect
from stockade.web.context import Ctx
from stockade.web.templating import render

__all__ = ["router"]

router = APIRouter(prefix="/admin/mirror", dependencies=[Depends(csrf_protect)])


@router.get("/", include_in_schema=False)
def mirror_overview(request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    with ctx.db.read() as session:
        context = {
            "upstreams": upstream_health(session),
            "held": held_files(session),
            "rules": origin_rules(session),
            "exemptions": exemptions(session),
        }
    return render(request, "admin/mirror.html", context)
