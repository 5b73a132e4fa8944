"""The administrators' account recovery queue: review, check proofs, approve or reject."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from stockade.accounts.forms import text_field
from stockade.accounts.models import User
from stockade.accounts.recovery.mails import (
    password_reset_mail,
    recovery_approved_mail,
    recovery_rejected_mail,
    reset_link,
)
from stockade.accounts.recovery.models import RecoveryRequest
from stockade.accounts.recovery.requests import (
    MAX_NOTE,
    PROOFS,
    RecoveryError,
    approve,
    pending_requests,
    reject,
    save_checks,
    view_request,
)
from stockade.accounts.recovery.reset import RESET_LIFETIME, PendingReset
from stockade.events.services import Origin
from stockade.index.history import find_events
from stockade.mail import Mailer, deliver
from stockade.web.auth import AdminUser
from stockade.web.context import AppContext, Ctx, origin_of
from stockade.web.templating import render

__all__ = ["QUEUE_PATH", "router", "send_resets"]

QUEUE_PATH = "/admin/recovery/"
router = APIRouter()


def send_resets(
    mailer: Mailer, site_name: str, base_url: str, resets: list[PendingReset], *, forced: bool
) -> bool:
    """Mail reset links (after the transaction that issued them has committed)."""
    hours = int(RESET_LIFETIME.total_seconds() // 3600)
    return deliver(
        mailer,
        *(
            password_reset_mail(
                site_name=site_name,
                username=r.username,
                address=r.address,
                link=reset_link(base_url, r.secret),
                hours=hours,
                forced=forced,
            )
            for r in resets
        ),
    )


@router.get(QUEUE_PATH, include_in_schema=False)
def queue(request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """Pending requests (oldest first) and the latest decisions."""
    with ctx.db.read() as session:
        pending = pending_requests(session)
        decided = session.execute(
            select(RecoveryRequest, User.username)
            .join(User, User.id == RecoveryRequest.user_id)
            .where(RecoveryRequest.status != "pending")
            .order_by(RecoveryRequest.decided_at.desc())
            .limit(20)
        ).all()
    return render(
        request,
        "admin/recovery_queue.html",
        {"pending": pending, "decided": [(r, n) for r, n in decided], "proofs": PROOFS},
    )


def _detail(request: Request, ctx: Ctx, request_id: int, error: str | None = None) -> Response:
    with ctx.db.read() as session:
        view = view_request(session, request_id)
        events = find_events(session, user_id=view.request.user_id, limit=30) if view else []
    if view is None:
        return render(request, "not_found.html", {}, status_code=404)
    return render(
        request,
        "admin/recovery_detail.html",
        {"view": view, "events": events, "proofs": PROOFS, "error": error},
        status_code=400 if error else 200,
    )


@router.get(QUEUE_PATH + "{request_id}/", include_in_schema=False)
def detail(request_id: int, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """One request: the account's verified addresses, publishers, factors and history."""
    return _detail(request, ctx, request_id)


def _decide_and_mail(
    ctx: AppContext,
    request_id: int,
    admin_id: int,
    *,
    action: str,
    checked: list[str],
    note: str,
    origin: Origin,
    link_base: str,
) -> str | None:
    """Save, approve or reject in one transaction, then mail; the refusal message, or None."""
    settings = ctx.settings
    try:
        with ctx.db.write() as session:
            if action == "save":
                save_checks(session, request_id, checked, admin_id=admin_id, origin=origin)
                outcome = None
            elif action in ("approve", "reject"):
                decide = approve if action == "approve" else reject
                outcome = decide(
                    session,
                    request_id,
                    admin_id=admin_id,
                    checked=checked,
                    note=note,
                    origin=origin,
                )
            else:
                raise RecoveryError("Choose save, approve or reject.")
    except RecoveryError as exc:
        return str(exc)
    if outcome is not None and action == "approve":
        deliver(
            ctx.mailer,
            *(
                recovery_approved_mail(
                    site_name=settings.site_name, username=outcome.username, address=address
                )
                for address in outcome.notify
            ),
        )
        send_resets(ctx.mailer, settings.site_name, link_base, list(outcome.resets), forced=True)
    elif outcome is not None:
        deliver(
            ctx.mailer,
            recovery_rejected_mail(
                site_name=settings.site_name,
                username=outcome.username,
                address=outcome.contact_email,
                note=outcome.note,
            ),
        )
    return None


@router.post(QUEUE_PATH + "{request_id}/", include_in_schema=False)
async def decide(request_id: int, request: Request, ctx: Ctx, admin: AdminUser) -> Response:
    """``action`` = save (store the checked proofs), approve or reject (with ``note``)."""
    form = await request.form()
    action = text_field(form, "action")
    checked = [p for p in form.getlist("proofs_checked") if isinstance(p, str) and p in PROOFS]
    note = text_field(form, "note")[:MAX_NOTE]
    origin = origin_of(request)
    # Before any change: an approval mails reset links, never to a host the request chose.
    link_base = ctx.link_base(request)
    refused = await run_in_threadpool(
        _decide_and_mail,
        ctx,
        request_id,
        admin.user_id,
        action=action,
        checked=checked,
        note=note,
        origin=origin,
        link_base=link_base,
    )
    if refused is not None:
        return await run_in_threadpool(_detail, request, ctx, request_id, refused)
    return RedirectResponse(f"{QUEUE_PATH}{request_id}/", status_code=303)
