"""`stockade webhook …`: signed POSTs to a URL when a project changes."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from stockade.cli.common import CLI_ORIGIN, DataOpt, fail, group, open_db
from stockade.errors import ServiceError
from stockade.index.models import Project
from stockade.index.rules import find_project
from stockade.orgs.models import Organization
from stockade.orgs.services import find_org
from stockade.webhooks import services
from stockade.webhooks.models import Webhook, WebhookDelivery

__all__ = ["app"]

app = group(help="Webhooks: a signed JSON POST to a URL when a project changes.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(help="Where to POST (http:// or https://).")],
    project: Annotated[
        str | None, typer.Option("--project", help="Tell about this project only.")
    ] = None,
    org: Annotated[
        str | None,
        typer.Option("--org", help="Tell about the projects this organization owns."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Tell about every project.")] = False,
    secret: Annotated[
        str | None,
        typer.Option("--secret", help="The signing secret (default: a new random one)."),
    ] = None,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="Only this kind, e.g. file.published (repeatable)."),
    ] = None,
    allow_private: Annotated[
        bool,
        typer.Option(
            "--allow-private", help="Allow loopback and private addresses (an operator's call)."
        ),
    ] = False,
    data: DataOpt = None,
) -> None:
    """Add a webhook for one project (--project P), for an organization's projects (--org O)
    or for every project (--all). Prints its id and its signing secret: keep the secret, it
    is shown only here."""
    if [project is not None, org is not None, every].count(True) != 1:
        raise fail("give exactly one of --project P, --org O and --all", 2)
    settings, db = open_db(data)
    try:
        with db.write() as session:
            row = _project(session, project) if project is not None else None
            org_row = find_org(session, org) if org is not None else None
            if org is not None and org_row is None:
                raise fail(f"no organization named {org!r}")
            hook = services.create_webhook(
                session,
                settings,
                url,
                project=row,
                org=org_row,
                created_by_id=None,
                origin=CLI_ORIGIN,
                secret=secret,
                kinds=event,
                allow_private=allow_private,
            )
            hook_id, hook_secret = hook.id, hook.secret
    except ServiceError as exc:
        raise fail(exc.message) from exc
    finally:
        db.dispose()
    typer.echo(f"{hook_id}\t{hook_secret}")


def _hook_doc(hook: Webhook, project: str | None, org: str | None) -> dict[str, Any]:
    return {
        "id": hook.id,
        "project": project,
        "org": org,
        "url": hook.url,
        "events": hook.kinds or "all",
        "allow_private": hook.allow_private,
        "created": hook.created_at.isoformat(),
    }


@app.command("list")
def webhook_list(as_json: JsonOpt = False, data: DataOpt = None) -> None:
    """Every webhook (secrets are not shown)."""
    _, db = open_db(data)
    try:
        with db.read() as session:
            rows = session.execute(
                select(Webhook, Project.name, Organization.name)
                .outerjoin(Project, Project.id == Webhook.project_id)
                .outerjoin(Organization, Organization.id == Webhook.org_id)
                .order_by(Webhook.id)
            ).all()
            docs = [_hook_doc(hook, name, org) for hook, name, org in rows]
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(docs, indent=2))
        return
    table = Table("id", "for", "url", "events")
    for d in docs:
        events = d["events"] if isinstance(d["events"], str) else ", ".join(d["events"])
        scope = d["project"] or (f"organization {d['org']}" if d["org"] else "(every project)")
        table.add_row(str(d["id"]), escape(scope), escape(d["url"]), events)
    Console().print(table)


def _project(session: Any, name: str) -> Project:
    project = find_project(session, name)
    if project is None or project.deletion_id is not None:
        raise fail(f"no project named {name!r}")
    return project


def _hook(session: Any, hook_id: int) -> Webhook:
    hook = session.get(Webhook, hook_id)
    if hook is None:
        raise fail(f"no webhook {hook_id}")
    assert isinstance(hook, Webhook)
    return hook


@app.command("remove")
def webhook_remove(
    hook_id: Annotated[int, typer.Argument(help="The webhook's id.")], data: DataOpt = None
) -> None:
    """Remove a webhook and its delivery log."""
    _, db = open_db(data)
    try:
        with db.write() as session:
            services.remove_webhook(
                session, _hook(session, hook_id), actor_id=None, origin=CLI_ORIGIN
            )
    finally:
        db.dispose()
    typer.echo(f"removed webhook {hook_id}")


@app.command("test")
def webhook_test(
    hook_id: Annotated[int, typer.Argument(help="The webhook's id.")], data: DataOpt = None
) -> None:
    """Send a test delivery (kind "ping") now; exits 1 unless the receiver answered 2xx."""
    settings, db = open_db(data)
    try:
        attempt = services.send_test(db, settings, hook_id)
    except ServiceError as exc:
        raise fail(exc.message) from exc
    finally:
        db.dispose()
    if not attempt.ok:
        raise fail(
            f"the receiver answered {attempt.status}" if attempt.status else str(attempt.error)
        )
    typer.echo(f"delivered: HTTP {attempt.status}")


@app.command("deliveries")
def webhook_deliveries(
    hook_id: Annotated[int, typer.Argument(help="The webhook's id.")],
    as_json: JsonOpt = False,
    data: DataOpt = None,
) -> None:
    """A webhook's delivery log, newest first."""
    _, db = open_db(data)
    try:
        with db.read() as session:
            _hook(session, hook_id)
            rows = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == hook_id)
                .order_by(WebhookDelivery.id.desc())
                .limit(100)
            ).all()
            docs: list[dict[str, Any]] = [
                {
                    "id": d.id,
                    "kind": d.kind,
                    "state": d.state,
                    "attempts": d.attempts,
                    "last_status": d.last_status,
                    "last_error": d.last_error,
                    "next_attempt": d.next_attempt_at.isoformat(),
                }
                for d in rows
            ]
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(docs, indent=2))
        return
    table = Table("id", "kind", "state", "attempts", "last answer")
    for d in docs:
        answer = f"HTTP {d['last_status']}" if d["last_status"] else (d["last_error"] or "")
        table.add_row(str(d["id"]), d["kind"], d["state"], str(d["attempts"]), escape(answer))
    Console().print(table)
