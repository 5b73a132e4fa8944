"""``stockade release held`` and ``stockade release confirm``: uploads held because they broke
their project's provenance pattern (:mod:`stockade.publish.regression`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stockade.accounts.services import find_user
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, open_db
from stockade.cli.lifecycle import release_app
from stockade.publish.errors import UploadError
from stockade.publish.holds import HeldView, confirm_release, held_files
from stockade.storage import open_storage

__all__ = ["release_confirm", "release_held"]


@release_app.command("held")
def release_held(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list.")] = False,
    data: DataOpt = None,
) -> None:
    """List the files held until an owner confirms them."""
    _, db = open_db(data)
    try:
        with db.read() as session:
            held: list[HeldView] = held_files(session)
    finally:
        db.dispose()
    if as_json:
        print(json.dumps([h.as_dict() for h in held], indent=2))
        return
    if not held:
        err.print("no held files")
        return
    table = Table("project", "version", "file", "uploader", "rule", "held at")
    for h in held:
        table.add_row(
            *(escape(v) for v in (h.project, h.version, h.filename, h.uploader)), h.rule, h.held_at
        )
    Console().print(table)


@release_app.command("confirm")
def release_confirm(
    project: str,
    version: str,
    user: Annotated[str, typer.Option("--user", help="The owner who confirms it.")],
    data: DataOpt = None,
) -> None:
    """Publish the held files of VERSION of PROJECT, as its owner USER confirms them."""
    settings, db = open_db(data)
    storage = open_storage(settings.storage_url)
    try:
        with db.read() as session:
            owner = find_user(session, user)
        if owner is None:
            raise fail(f"no user named {user!r}")
        filenames = confirm_release(
            db,
            storage,
            settings,
            name=project,
            version=version,
            owner=owner,
            origin=CLI_ORIGIN,
            via="cli",
        )
    except UploadError as exc:
        raise fail(exc.message) from exc
    finally:
        storage.close()
        db.dispose()
    err.print(f"confirmed {project} {version}: " + ", ".join(filenames))
