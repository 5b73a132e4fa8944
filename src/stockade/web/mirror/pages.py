"""``/admin/mirror/``: upstream health and cache size, files held back by the cooldown and until
when, origin rules, cooldown exemptions and policy views, each with the forms that change them
(:mod:`stockade.web.mirror.forms`)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from stockade.db.base import utcnow
from stockade.mirror.queries import (
    exemptions,
    held_files,
    origin_rules,
    upstream_health,
)
from stockade.mirror.views import view_summaries
from stockade.web.auth import AdminUser, csrf_protect
from stockade.web.context import AppContext, Ctx
from stockade.web.templating import render

__all__ = ["mirror_page", "router"]

router = APIRouter(prefix="/admin/mirror", dependencies=[Depends(csrf_protect)])

# What a form did, said on the page it redirects to (?done=KEY&name=NAME).
DONE = {
    "upstream-saved": "Upstream {} saved.",
    "upstream-removed": "Upstream {} removed.",
    "origin-set": "The origin rule of {} is set.",
    "origin-removed": "{} follows the default origin rule again.",
    "exempted": "{} is let through the cooldown.",
    "revoked": "The exemption of {} is revoked.",
    "purged": "{} is purged from the mirror cache.",
    "view-saved": "Policy view {} saved.",
    "view-removed": "Policy view {} removed.",
    "refreshed": "{} is refreshed from upstream.",
    "missing": "{} is on no upstream.",
    "local": "{} is local: it is not mirrored.",
    "busy": "{} is being refreshed by another worker right now.",
}


def mirror_page(
    request: Request,
    ctx: AppContext,
    *,
    notice: str | None = None,
    error: str | None = None,
    failed: str | None = None,
    form: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The page; after a refused form, ``error`` is said in the ``failed`` form's section and
    the form keeps what was typed (``form``)."""
    with ctx.db.read() as session:
        context = {
            "upstreams": upstream_health(session),
            "held": held_files(session),
            "rules": origin_rules(session),
            "exemptions": exemptions(session),
            "views": view_summaries(session),
            "now": utcnow(),
            "notice": notice,
            "error": error,
            "failed": failed,
            "form": dict(form or {}),
        }
    return render(request, "admin/mirror.html", context, status_code=status_code)


@router.get("/", include_in_schema=False)
def mirror_overview(request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    done = DONE.get(request.query_params.get("done", ""))
    notice = done.format(request.query_params.get("name", "")) if done else None
    return mirror_page(request, ctx, notice=notice)
