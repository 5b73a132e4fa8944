"""`stockade events …`: the audit log from the shell."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from packaging.utils import canonicalize_name
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from stockade.accounts.services import find_user
from stockade.cli.common import DataOpt, fail, group, open_db
from stockade.index.history import EventView, find_events
from stockade.index.models import Project

__all__ = ["app"]

app = group(help="Read the audit log.")


@app.command("list")
def events_list(
    user: Annotated[
        str | None,
        typer.Option("--user", help="Only events about this user's account or done by them."),
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="Only events about this project.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many events (newest first).")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (see above).")] = False,
    data: DataOpt = None,
) -> None:
    """List audit events, newest first; --user and --project combine.

    With --json, prints a JSON list of objects with these keys:

    \b
    - id: int
    - time: ISO 8601 time, UTC
    - tag: str, e.g. "token:create"
    - sentence: str, what happened in words, e.g. "alice created an API token."
    - actor: username or null
    - project: normalized project name or null
    - ip_address, user_agent: str or null
    - details: object
    """
    _, db = open_db(data)
    try:
        with db.read() as session:
            user_id = project_id = None
            if user is not None:
                found = find_user(session, user)
                if found is None:
                    raise fail(f"no user named {user!r}")
                user_id = found.id
            if project is not None:
                normalized = canonicalize_name(project)
                project_id = session.scalar(
                    select(Project.id).where(Project.normalized_name == normalized)
                )
                if project_id is None:
                    raise fail(f"no project named {project!r}")
            events = find_events(session, user_id=user_id, project_id=project_id, limit=limit)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps([e.as_dict() for e in events], indent=2))
        return
    _print_events(events)


def _print_events(events: list[EventView]) -> None:
    out = Console()
    if not events:
        out.print("no events")
        return
    table = Table(title="Audit events, newest first", title_justify="left")
    table.add_column("When (UTC)", no_wrap=True)
    table.add_column("What", overflow="fold")
    for column in ("Actor", "Project", "From", "Details"):
        table.add_column(column, overflow="fold")
    for e in events:
        origin = " ".join(filter(None, [e.ip_address, e.user_agent])) or "—"
        details = "\n".join(f"{k}: {json.dumps(v)}" for k, v in e.details.items() if v is not None)
        table.add_row(
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(f"{e.sentence}\n({e.tag})"),
            escape(e.actor or "—"),
            escape(e.project or "—"),
            escape(origin),
            escape(details or "—"),
        )
    out.print(table)
