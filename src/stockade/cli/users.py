"""`stockade user …`: manage accounts from the shell."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from stockade.accounts.services import AccountError, create_user
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, open_db

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Manage users.")


@app.command("create")
def user_create(
    name: str,
    email: Annotated[str, typer.Option("--email", help="The user's email address.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    data: DataOpt = None,
) -> None:
    """Create a user. The operator vouches for the email address: it starts verified."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    _, db = open_db(data)
    try:
        with db.write() as session:
            create_user(
                session,
                name,
                email=email,
                password=password,
                is_admin=admin,
                email_verified=True,
                origin=CLI_ORIGIN,
            )
    except AccountError as exc:
        raise fail(str(exc)) from exc
    finally:
        db.dispose()
    err.print(f"created user {name}")
