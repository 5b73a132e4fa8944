"""`stockade user …`: manage accounts from the shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.accounts.services import AccountError, create_user, find_user, set_active
from stockade.accounts.twofactor.factors import two_factor_methods
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, group, open_db
from stockade.index.queries import user_projects

__all__ = ["app"]

app = group(help="Manage users.")


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


def _user_info(session: Session, user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "is_admin": user.is_admin,
        "disabled": not user.is_active,
        "emails": [
            {"address": e.email, "primary": e.primary, "verified": e.verified} for e in user.emails
        ],
        "two_factor": two_factor_methods(session, user.id),
        "projects": [{"name": p.name, "role": p.role} for p in user_projects(session, user.id)],
    }


@app.command("show")
def user_show(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (see above).")] = False,
    data: DataOpt = None,
) -> None:
    """Show a user's account: flags, email addresses, second factors and project roles.

    With --json, prints one JSON object with these keys:

    \b
    - username: str
    - is_admin, disabled: bool
    - emails: list of {"address": str, "primary": bool, "verified": bool}
    - two_factor: list of second-factor method names (empty: none enrolled)
    - projects: list of {"name": str, "role": "Owner" or "Maintainer"}
    """
    _, db = open_db(data)
    try:
        with db.read() as session:
            user = find_user(session, name)
            if user is None:
                raise fail(f"no user named {name!r}")
            info = _user_info(session, user)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    _print_user(info)


def _print_user(info: dict[str, Any]) -> None:
    out = Console()
    state = "[red]disabled[/]" if info["disabled"] else "[green]active[/]"
    admin = ", administrator" if info["is_admin"] else ""
    out.print(f"[bold]{escape(info['username'])}[/] ({state}{admin})")
    emails = Table(title="Email addresses", title_justify="left")
    for column in ("Address", "Primary", "Verified"):
        emails.add_column(column)
    for e in info["emails"]:
        emails.add_row(escape(e["address"]), _yes(e["primary"]), _yes(e["verified"]))
    out.print(emails)
    methods = ", ".join(info["two_factor"]) or "none"
    out.print(f"Two-factor methods: {escape(methods)}")
    roles = Table(title="Projects", title_justify="left")
    roles.add_column("Project")
    roles.add_column("Role")
    for p in info["projects"]:
        roles.add_row(escape(p["name"]), p["role"])
    out.print(roles if info["projects"] else "Projects: none")


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _set_active(name: str, active: bool, data: Path | None) -> None:
    _, db = open_db(data)
    try:
        with db.write() as session:
            user = find_user(session, name)
            if user is None:
                raise fail(f"no user named {name!r}")
            changed = set_active(session, user, active, actor_id=None, origin=CLI_ORIGIN)
    finally:
        db.dispose()
    word = "enabled" if active else "disabled"
    err.print(f"{name} {'is now' if changed else 'was already'} {word}")


@app.command("disable")
def user_disable(name: str, data: DataOpt = None) -> None:
    """Disable an account: it can no longer log in, and its sessions end at once.

    Its API tokens are kept but refused while the account is disabled. Records an
    'account:disable' event.
    """
    _set_active(name, False, data)


@app.command("enable")
def user_enable(name: str, data: DataOpt = None) -> None:
    """Enable a disabled account again (its tokens work again). Records 'account:enable'."""
    _set_active(name, True, data)


@app.command("verify-email")
def user_verify_email(name: str, email: str, data: DataOpt = None) -> None:
    """Vouch for an email address of a user: it becomes verified (and is added to the account
    if it is not there yet). Refused while the address's domain failed its last domain check.
    Records 'account:email:verified' with 'vouched: true'.
    """
    from stockade.accounts.email_domains.check import VouchRefused, vouch_for_email

    _, db = open_db(data)
    try:
        with db.write() as session:
            user = find_user(session, name)
            if user is None:
                raise fail(f"no user named {name!r}")
            try:
                changed = vouch_for_email(session, user, email, origin=CLI_ORIGIN)
            except VouchRefused as exc:
                raise fail(str(exc)) from exc
    finally:
        db.dispose()
    err.print(f"{email} of {name} {'is now' if changed else 'was already'} verified")
