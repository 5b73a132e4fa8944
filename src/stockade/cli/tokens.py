"""`stockade token …`: API tokens from the shell."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from packaging.utils import canonicalize_name
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from stockade.accounts.services import find_user
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, group, open_db
from stockade.index.models import Project, Role
from stockade.tokens.models import ApiToken
from stockade.tokens.queries import user_tokens
from stockade.tokens.services import create_token, revoke_token

__all__ = ["app"]

app = group(help="Manage API tokens.")


@app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="The user the token belongs to.")],
    project: Annotated[
        list[str] | None,
        typer.Option("--project", help="Limit the token to this project (repeatable)."),
    ] = None,
    expires: Annotated[
        int | None, typer.Option("--expires", min=1, help="Days until the token expires.")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A name for the token.")] = None,
    data: DataOpt = None,
) -> None:
    """Create an API token for a user and print it (only the token, on standard output)."""
    settings, db = open_db(data)
    try:
        with db.write() as session:
            user = find_user(session, name)
            if user is None:
                raise fail(f"no user named {name!r}")
            projects = sorted({str(canonicalize_name(p)) for p in project}) if project else None
            for normalized in projects or []:
                role = session.scalar(
                    select(Role.id)
                    .join(Project, Project.id == Role.project_id)
                    .where(Project.normalized_name == normalized, Role.user_id == user.id)
                )
                if role is None:
                    raise fail(f"{name} has no role on a project named {normalized!r}")
            token = create_token(
                session,
                user,
                secret_key=settings.secret_key,
                name=label or ("cli: " + ", ".join(projects) if projects else "cli"),
                projects=projects,
                expires_days=expires,
                origin=CLI_ORIGIN,
            )
    finally:
        db.dispose()
    typer.echo(token)


@app.command("list")
def token_list(
    name: Annotated[str, typer.Argument(help="The user whose tokens to list.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (see above).")] = False,
    data: DataOpt = None,
) -> None:
    """List a user's API tokens, revoked ones included, newest first (never their values).

    With --json, prints a JSON list of objects with these keys:

    \b
    - id: int (for 'stockade token revoke')
    - name: str
    - scope: null (every project of the user) or a list of normalized project names
    - created: ISO 8601 time, UTC
    - last_used, expires, revoked: ISO 8601 time, UTC, or null
    """
    _, db = open_db(data)
    try:
        with db.read() as session:
            user = find_user(session, name)
            if user is None:
                raise fail(f"no user named {name!r}")
            tokens = user_tokens(session, user.id)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps([t.as_dict() for t in tokens], indent=2))
        return
    table = Table(title=f"API tokens of {escape(name)}", title_justify="left")
    table.add_column("Id", no_wrap=True)
    table.add_column("Name", overflow="fold")
    table.add_column("Scope", overflow="fold")
    for column in ("Created", "Last used", "Expires", "Status"):
        table.add_column(column, no_wrap=True)
    for t in tokens:
        table.add_row(
            str(t.id),
            escape(t.name),
            "all projects" if t.projects is None else escape(", ".join(t.projects)),
            _when(t.created_at),
            _when(t.last_used_at) or "never",
            _when(t.expires_at) or "never",
            "revoked" if t.revoked_at else "expired" if t.expired else "active",
        )
    Console().print(table if tokens else f"{escape(name)} has no API tokens")


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


@app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see 'stockade token list').")],
    data: DataOpt = None,
) -> None:
    """Revoke an API token for good (records a token:revoke event). Exits 1 for an unknown id."""
    _, db = open_db(data)
    try:
        with db.write() as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                raise fail(f"no API token with id {token_id}")
            already = row.revoked_at is not None
            revoke_token(session, row, actor_id=None, origin=CLI_ORIGIN)
            label = f"{row.name!r} (id {row.id})"
    finally:
        db.dispose()
    err.print(f"token {label} {'was already revoked' if already else 'revoked'}")
