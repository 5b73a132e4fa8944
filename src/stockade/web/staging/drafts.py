"""Draft releases on a project's management page: the forms that publish or cancel an open
publishing session (``/manage/project/<name>/drafts/<id>/publish/`` and ``cancel/``).

Maintainers and owners pass the page's guard; the session's own rules then decide as they do
for an Upload 2.0 request, with the logged-in user as the principal (their role on the project
and the 2FA rule), and record the same events. A refusal is shown beside the draft's forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from stockade.config import Settings
from stockade.db import Database
from stockade.events.services import Origin
from stockade.staging.drafts import draft_token
from stockade.staging.publishing import publish_session
from stockade.staging.services import StagingError, cancel_session
from stockade.tokens.services import AuthenticatedToken, signed_in
from stockade.web.auth import csrf_protect
from stockade.web.context import Ctx, origin_of
from stockade.web.guards import MaintainerAccess
from stockade.web.manage.common import done_url
from stockade.web.manage.projects import overview_response

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])

_Action = Callable[[Database, Settings, AuthenticatedToken, str, Origin], Any]


async def _act(
    request: Request, ctx: Ctx, access: MaintainerAccess, draft_id: int, action: _Action, done: str
) -> Response:
    principal = signed_in(access.identity.user_id, access.identity.username, access.normalized_name)

    def run() -> str:
        with ctx.db.read() as session:
            token, version = draft_token(session, access.normalized_name, draft_id)
        action(ctx.db, ctx.settings, principal, token, origin_of(request))
        return version

    try:
        version = await run_in_threadpool(run)
    except StagingError as exc:
        return overview_response(
            request,
            ctx,
            access,
            error=exc.message,
            error_draft=draft_id,
            status_code=exc.status_code,
        )
    ctx.pages.invalidate(access.normalized_name, root=True)
    path = f"/manage/project/{access.normalized_name}/"
    return RedirectResponse(done_url(path, done, version), status_code=303)


@router.post(
    "/manage/project/{project_name}/drafts/{draft_id:int}/publish/", include_in_schema=False
)
async def publish_draft(
    project_name: str, draft_id: int, request: Request, ctx: Ctx, access: MaintainerAccess
) -> Response:
    """Publish a draft release: all its files at once, or none."""
    return await _act(request, ctx, access, draft_id, publish_session, "draft-published")


@router.post(
    "/manage/project/{project_name}/drafts/{draft_id:int}/cancel/", include_in_schema=False
)
async def cancel_draft(
    project_name: str, draft_id: int, request: Request, ctx: Ctx, access: MaintainerAccess
) -> Response:
    """Cancel a draft release: its files are discarded."""
    return await _act(request, ctx, access, draft_id, cancel_session, "draft-canceled")
