"""``stockade``: serve the index and manage it from the shell.

Every option also reads a ``STOCKADE_*`` environment variable, as the settings do.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stockade.config import ConfigError, Settings, load_settings, write_template
from stockade.db import Database

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
user_app = typer.Typer(no_args_is_help=True, help="Manage users.")
token_app = typer.Typer(no_args_is_help=True, help="Manage API tokens.")
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(db_app, name="db")

err = Console(stderr=True)

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", envvar="STOCKADE_DATA_DIR", help="Data folder (stockade.toml, database, files)."
    ),
]


def _settings(data: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(data, overrides={k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc


def _migrated(settings: Settings) -> Database:
    db = Database(settings.database_url)
    db.migrate()
    return db


@app.command()
def serve(
    data: DataOpt = None,
    host: Annotated[str, typer.Option(envvar="STOCKADE_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="STOCKADE_PORT")] = 8080,
    workers: Annotated[int | None, typer.Option(envvar="STOCKADE_WORKERS")] = None,
) -> None:
    """Create or migrate the database, then serve the index."""
    import uvicorn

    settings = _settings(data, workers=workers)
    if write_template(settings.data_dir):
        err.print(f"wrote default settings to {settings.data_dir / 'stockade.toml'}")
    _migrated(settings).dispose()
    # Workers are separate processes: hand them the resolved settings through the environment.
    os.environ["STOCKADE_DATA_DIR"] = str(settings.data_dir)
    os.environ["STOCKADE_DATABASE_URL"] = settings.database_url
    os.environ["STOCKADE_STORAGE_URL"] = settings.storage_url
    err.print(
        f"stockade serving http://{host}:{port}/ (data: {settings.data_dir}, "
        f"workers: {settings.workers})"
    )
    uvicorn.run(
        "stockade.web.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=10,
    )


@db_app.command("migrate")
def db_migrate(data: DataOpt = None) -> None:
    """Create or upgrade the database schema."""
    _migrated(_settings(data)).dispose()
    err.print("database is up to date")


@user_app.command("create")
def user_create(
    name: str,
    email: Annotated[str, typer.Option("--email", help="The user's email address.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    data: DataOpt = None,
) -> None:
    """Create a user."""
    from stockade.accounts.services import AccountError, create_user
    from stockade.events.services import CLI

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    db = _migrated(_settings(data))
    try:
        with db.write() as session:
            create_user(session, name, email=email, password=password, is_admin=admin, origin=CLI)
    except AccountError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    err.print(f"created user {name}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="The user the token belongs to.")],
    project: Annotated[
        str | None, typer.Option("--project", help="Limit the token to this project.")
    ] = None,
    expires: Annotated[
        int | None, typer.Option("--expires", min=1, help="Days until the token expires.")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A name for the token.")] = None,
    data: DataOpt = None,
) -> None:
    """Create an API token for a user and print it (only the token, on standard output)."""
    from packaging.utils import canonicalize_name

    from stockade.accounts.services import find_user
    from stockade.events.services import CLI
    from stockade.tokens.services import create_token

    db = _migrated(_settings(data))
    try:
        with db.write() as session:
            user = find_user(session, name)
            if user is None:
                err.print(f"[red]error:[/] no user named {name!r}")
                raise typer.Exit(1)
            token = create_token(
                session,
                user,
                name=label or (f"cli: {project}" if project else "cli"),
                project_name=canonicalize_name(project) if project else None,
                expires_days=expires,
                origin=CLI,
            )
    finally:
        db.dispose()
    typer.echo(token)


def main() -> None:
    """Entry point of the ``stockade`` console script."""
    app()
