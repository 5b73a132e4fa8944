"""`stockade token …`: API tokens from the shell."""

from __future__ import annotations

from typing import Annotated

import typer
from packaging.utils import canonicalize_name
from sqlalchemy import select

from stockade.accounts.services import find_user
from stockade.cli.common import CLI_ORIGIN, DataOpt, fail, open_db
from stockade.index.models import Project, Role
from stockade.tokens.services import create_token

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Manage API tokens.")


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
