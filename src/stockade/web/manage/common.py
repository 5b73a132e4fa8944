"""What the project-management routes share: running a role service in its own transaction,
reading form fields, and the one-line notices shown after a redirect."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from starlette.requests import Request

from stockade.accounts.models import User
from stockade.index.roles import InvitationExpired, Outbox
from stockade.web.auth import Identity, LoginRequired
from stockade.web.context import AppContext

__all__ = ["done_url", "form_fields", "notice", "outbox_for", "run_as"]

T = TypeVar("T")

# Notices are chosen by a code in the query string, never taken from it, so a crafted link
# cannot put arbitrary words on the page; only a name that looks like a user or project name
# is filled in.
_NOTICES = {
    "invited": "Invitation sent to '{who}'.",
    "revoked": "Invitation revoked from '{who}'.",
    "changed": "Changed the role of '{who}'.",
    "removed": "Removed collaborator '{who}'.",
    "left": "You left the project '{who}'.",
    "accepted": "You are now a collaborator on '{who}'.",
    "declined": "Invitation for '{who}' is declined.",
    "draft-published": "Published the draft release {who}.",
    "draft-canceled": "Canceled the draft release {who}.",
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def done_url(path: str, code: str, who: str) -> str:
    """``path`` with the notice ``code`` about ``who`` in its query string."""
    assert code in _NOTICES
    return f"{path}?{urlencode({'done': code, 'who': who})}"


def notice(done: str | None, who: str | None) -> str | None:
    """The notice for a redirect's query string, or None."""
    template = _NOTICES.get(done or "")
    if template is None or who is None or not _NAME_RE.match(who):
        return None
    return template.format(who=who)


async def form_fields(request: Request, *names: str) -> dict[str, str]:
    """The named text fields of the posted form ("" when missing)."""
    form = await request.form()
    values = {}
    for name in names:
        value = form.get(name)
        values[name] = value if isinstance(value, str) else ""
    return values


def outbox_for(ctx: AppContext, request: Request) -> Outbox:
    """An empty outbox whose links point at this site."""
    return Outbox(ctx.link_base(request), ctx.settings.site_name)


def run_as(ctx: AppContext, identity: Identity, action: Callable[[Session, User], T]) -> T:
    """Run ``action(session, user)`` in one write transaction as the logged-in user.

    An expired invitation is refused but its new "expired" status is still committed.
    """
    expired: InvitationExpired | None = None
    with ctx.db.write() as session:
        user = session.get(User, identity.user_id)
        if user is None or not user.is_active:
            # Disabled or deleted since the session was loaded.
            raise LoginRequired
        try:
            return action(session, user)
        except InvitationExpired as exc:
            expired = exc
    assert expired is not None  # the only way out of the block without returning
    raise expired
