"""Webhooks: made and removed (events), the event log read into deliveries, and deliveries
sent, signed, retried with backoff.

A delivery is made from the event log (the ``events`` table), which every change writes in its
own transaction: nothing on the write paths knows about webhooks, and a change that rolled back
is never told. The dispatcher (the ``webhooks`` job) reads the events after its cursor, plus a
look-back window, because on PostgreSQL ids can commit out of order; the unique
(webhook, event) pair makes reading an event twice harmless.

The signature is HMAC-SHA256 over ``"<timestamp>.<body>"`` with the webhook's secret, sent as
``Stockade-Signature: t=<unix seconds>,v1=<hex>``; a receiver checks it and refuses a timestamp
outside its replay window (five minutes, say).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade import __version__
from stockade.accounts.models import User
from stockade.config import Settings
from stockade.db import Database, utcnow
from stockade.errors import ServiceError
from stockade.events.models import Event
from stockade.events.sentences import sentence
from stockade.events.services import Origin, record
from stockade.index.models import Project
from stockade.orgs.models import Organization, OrgProject
from stockade.webhooks.destinations import WebhookURLError, resolve_destination, validate_url
from stockade.webhooks.models import (
    DELIVERED,
    FAILED,
    PENDING,
    Webhook,
    WebhookCursor,
    WebhookDelivery,
)

__all__ = [
    "KINDS",
    "Attempt",
    "create_webhook",
    "deliver",
    "deliver_due",
    "enqueue",
    "remove_webhook",
    "send_test",
    "sign",
    "webhooks_of",
]

# The changes a webhook is told about: event tag → kind in the body.
KINDS = {
    "file:upload": "file.published",
    "release:yank": "release.yanked",
    "release:unyank": "release.unyanked",
    "release:delete": "release.deleted",
    "release:restore": "release.restored",
    "file:delete": "file.deleted",
    "file:restore": "file.restored",
    "project:delete": "project.deleted",
    "project:restore": "project.restored",
    "project:quarantine": "project.quarantined",
    "project:quarantine:clear": "project.unquarantined",
    "project:advisory": "advisory.matched",
    "release:stage-publish": "staged.published",
}
PING = "ping"
MAX_ATTEMPTS = 8
FIRST_RETRY = dt.timedelta(seconds=30)
LAST_RETRY = dt.timedelta(hours=6)
# On PostgreSQL an event id can commit after a higher one: events this recent are read again.
LOOK_BACK = dt.timedelta(minutes=10)
TIMEOUT = httpx.Timeout(10.0)
SIGNATURE_HEADER = "Stockade-Signature"
_BATCH = 200


def _kinds(kinds: Iterable[str] | None) -> list[str] | None:
    if kinds is None:
        return None
    chosen = sorted(set(kinds))
    unknown = [k for k in chosen if k not in KINDS.values()]
    if unknown:
        choices = ", ".join(sorted(KINDS.values()))
        raise ServiceError(400, f"Unknown webhook event {unknown[0]!r}: choose from {choices}.")
    return chosen or None


def create_webhook(
    session: Session,
    settings: Settings,
    url: str,
    *,
    project: Project | None,
    created_by_id: int | None,
    origin: Origin,
    org: Organization | None = None,
    secret: str | None = None,
    kinds: Iterable[str] | None = None,
    allow_private: bool = False,
) -> Webhook:
    """A new webhook for ``project``, or for the projects ``org`` owns (neither: every
    project). ``allow_private`` (an
    administrator's choice) lets it send to loopback and private addresses; so does the
    ``webhooks_allow_private`` setting, for the whole index. Raises ServiceError."""
    if project is not None and org is not None:
        raise ServiceError(400, "A webhook is for one project or for one organization, not both.")
    url = validate_url(url)
    private = allow_private or settings.webhooks_allow_private
    resolve_destination(url, allow_private=private)
    if secret is not None and not 16 <= len(secret) <= 128:
        raise ServiceError(400, "A webhook secret is 16 to 128 characters.")
    hook = Webhook(
        project_id=project.id if project is not None else None,
        org_id=org.id if org is not None else None,
        url=url,
        secret=secret or secrets.token_urlsafe(32),
        kinds=_kinds(kinds),
        allow_private=allow_private,
        created_by_id=created_by_id,
        created_at=utcnow(),
    )
    session.add(hook)
    session.flush()
    record(
        session,
        "webhook:add",
        origin=origin,
        actor_id=created_by_id,
        project_id=hook.project_id,
        url=url,
        scope=(
            project.name
            if project is not None
            else f"the organization {org.name}"
            if org is not None
            else "every project"
        ),
    )
    return hook


def remove_webhook(
    session: Session, hook: Webhook, *, actor_id: int | None, origin: Origin
) -> None:
    """Remove a webhook and its delivery log."""
    record(
        session,
        "webhook:remove",
        origin=origin,
        actor_id=actor_id,
        project_id=hook.project_id,
        url=hook.url,
    )
    session.delete(hook)


def webhooks_of(session: Session, project_id: int | None) -> list[Webhook]:
    """A project's webhooks (None: the index-wide ones)."""
    query = select(Webhook).order_by(Webhook.id)
    if project_id is None:
        query = query.where(Webhook.project_id.is_(None), Webhook.org_id.is_(None))
    else:
        query = query.where(Webhook.project_id == project_id)
    return list(session.scalars(query))


def _body(
    settings: Settings,
    kind: str,
    event: Event | None,
    project: Project | None,
    actor: str | None,
    delivery_key: str,
) -> str:
    base = settings.base_url.rstrip("/")
    payload: dict[str, object] = {
        "id": delivery_key,
        "kind": kind,
        "created_at": (event.created_at if event else utcnow()).isoformat(),
        "index": base or None,
    }
    if project is not None:
        payload["project"] = {
            "name": project.name,
            "normalized_name": project.normalized_name,
            "url": f"{base}/project/{project.normalized_name}/" if base else None,
        }
    if event is not None:
        details = dict(event.details or {})
        for key in ("version", "filename", "sha256", "reason", "advisory", "versions"):
            if key in details:
                payload[key] = details[key]
        payload["actor"] = actor
        payload["text"] = sentence(event.tag, details, actor)
    else:
        payload["text"] = "A test delivery: the webhook works."
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def enqueue(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Make the deliveries for the events written since the last call; returns how many."""
    cursor = session.get(WebhookCursor, 1)
    if cursor is None:
        cursor = WebhookCursor(id=1, last_event_id=0)
        session.add(cursor)
    hooks = list(session.scalars(select(Webhook).where(Webhook.active.is_(True))))
    newest = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
    if not hooks:
        cursor.last_event_id = newest
        session.flush()
        return 0
    # A webhook is told only of what happened after it was made.
    since = min(hook.created_at for hook in hooks)
    events = list(
        session.scalars(
            select(Event)
            .where(
                Event.tag.in_(KINDS),
                Event.created_at >= since,
                (Event.id > cursor.last_event_id) | (Event.created_at >= now - LOOK_BACK),
            )
            .order_by(Event.id)
        )
    )
    cursor.last_event_id = max(cursor.last_event_id, newest)
    if not events:
        session.flush()
        return 0
    known = {
        (hook_id, event_id)
        for hook_id, event_id in session.execute(
            select(WebhookDelivery.webhook_id, WebhookDelivery.event_id).where(
                WebhookDelivery.event_id.in_([e.id for e in events])
            )
        )
    }
    projects = {
        p.id: p
        for p in session.scalars(
            select(Project).where(Project.id.in_({e.project_id for e in events if e.project_id}))
        )
    }
    # Which organization owns each project now (an org's webhook follows its projects).
    owners: dict[int, int] = {
        project_id: org_id
        for project_id, org_id in session.execute(
            select(OrgProject.project_id, OrgProject.org_id).where(
                OrgProject.project_id.in_(list(projects))
            )
        )
    }
    actors: dict[int, str] = {
        user_id: username
        for user_id, username in session.execute(
            select(User.id, User.username).where(
                User.id.in_({e.actor_id for e in events if e.actor_id})
            )
        )
    }
    made = 0
    for event in events:
        kind = KINDS[event.tag]
        for hook in hooks:
            if (hook.id, event.id) in known or event.created_at < hook.created_at:
                continue
            if hook.project_id is not None and hook.project_id != event.project_id:
                continue
            if hook.org_id is not None and owners.get(event.project_id or 0) != hook.org_id:
                continue
            if hook.kinds is not None and kind not in hook.kinds:
                continue
            project = projects.get(event.project_id or 0)
            key = f"{hook.id}-{event.id}"
            actor = actors.get(event.actor_id or 0)
            session.add(
                WebhookDelivery(
                    webhook_id=hook.id,
                    event_id=event.id,
                    kind=kind,
                    body=_body(settings, kind, event, project, actor, key),
                    state=PENDING,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            made += 1
    session.flush()
    return made


def sign(secret: str, timestamp: int, body: str) -> str:
    """The signature header's value for a body sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass(frozen=True)
class Attempt:
    """What one attempt to deliver got: the receiver's status, or why there was none."""

    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _post(
    settings: Settings, hook: Webhook, delivery: WebhookDelivery, now: dt.datetime
) -> Attempt:
    try:
        target = resolve_destination(
            hook.url, allow_private=hook.allow_private or settings.webhooks_allow_private
        )
    except WebhookURLError as exc:
        return Attempt(None, exc.message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"stockade-webhooks/{__version__}",
        "Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
        "Stockade-Delivery": str(delivery.id),
        "Stockade-Event": delivery.kind,
        SIGNATURE_HEADER: sign(hook.secret, int(now.timestamp()), delivery.body),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
            response = client.post(
                target.pinned_url,
                content=delivery.body.encode(),
                headers=headers,
                extensions=extensions,
            )
    except httpx.HTTPError as exc:
        return Attempt(None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
    reason = None if response.is_success else (response.reason_phrase or "")[:200]
    return Attempt(response.status_code, reason)


def _backoff(attempts: int) -> dt.timedelta:
    wait: dt.timedelta = FIRST_RETRY * 2 ** (attempts - 1)
    return min(wait, LAST_RETRY)


def deliver(
    db: Database, settings: Settings, delivery_id: int, now: dt.datetime | None = None
) -> Attempt:
    """One attempt at one delivery (sent outside any transaction), its outcome written."""
    now = now or utcnow()
    with db.read() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        hook = session.get(Webhook, delivery.webhook_id) if delivery is not None else None
        if delivery is None or hook is None:
            return Attempt(None, "the delivery is gone")
        session.expunge_all()
    attempt = _post(settings, hook, delivery, now)

    def write(session: Session) -> None:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            return
        row.attempts += 1
        row.last_attempt_at = now
        row.last_status = attempt.status
        # The receiver chooses its reason phrase: bounded to the column.
        row.last_error = attempt.error[:512] if attempt.error else None
        if attempt.ok:
            row.state = DELIVERED
        elif row.attempts >= MAX_ATTEMPTS or row.event_id is None:
            row.state = FAILED  # a test delivery is tried once
        else:
            row.state = PENDING
            row.next_attempt_at = now + _backoff(row.attempts)

    db.run_write(write)
    return attempt


def deliver_due(db: Database, settings: Settings, now: dt.datetime) -> list[str]:
    """Send every delivery that is due; one line per attempt."""
    with db.read() as session:
        due = list(
            session.execute(
                select(WebhookDelivery.id, WebhookDelivery.kind, Webhook.url)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(
                    WebhookDelivery.state == PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    Webhook.active.is_(True),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(_BATCH)
            )
        )
    lines = []
    for delivery_id, kind, url in due:
        attempt = deliver(db, settings, delivery_id, now)
        outcome = f"HTTP {attempt.status}" if attempt.status is not None else attempt.error
        lines.append(f"{kind} to {url}: {outcome}")
    return lines


def send_test(db: Database, settings: Settings, hook_id: int) -> Attempt:
    """Send a ``ping`` delivery now and log it like any other."""

    def make(session: Session) -> int:
        hook = session.get(Webhook, hook_id)
        if hook is None:
            raise ServiceError(404, "No such webhook.")
        project = session.get(Project, hook.project_id) if hook.project_id else None
        delivery = WebhookDelivery(
            webhook_id=hook.id,
            event_id=None,
            kind=PING,
            body=_body(settings, PING, None, project, None, f"{hook.id}-test"),
            state=PENDING,
            next_attempt_at=utcnow(),
            created_at=utcnow(),
        )
        session.add(delivery)
        session.flush()
        return delivery.id

    return deliver(db, settings, db.run_write(make))
