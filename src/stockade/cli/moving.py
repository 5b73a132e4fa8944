"""'stockade import folder|devpi|bundle' and 'stockade export': moving an index in (from a
pypiserver or 'pip download' folder, from a devpi export) and between machines."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, TimeElapsedColumn
from sqlalchemy import select

from stockade.accounts.models import User
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, group, open_db
from stockade.cli.upkeep import COLUMNS, Bar
from stockade.db import Database
from stockade.storage import open_storage
from stockade.upkeep.moving.devpi import create_users, read_export, settle_owners
from stockade.upkeep.moving.files import Candidate, ImportReport, MoveError, import_files
from stockade.upkeep.moving.folder import scan_folder

__all__ = ["app", "import_folder"]

app = group(help="Move an index in: files, a devpi export, a bundle.")

OwnerOpt = Annotated[
    str | None,
    typer.Option(
        "--owner",
        help="The user who owns the projects the import creates (default: the only "
        "administrator). Files of projects that exist already need this user's role.",
    ),
]


def _default_owner(db: Database, *, required: bool = True) -> str | None:
    with db.read() as session:
        admins = list(session.scalars(select(User.username).where(User.is_admin.is_(True))))
    if len(admins) != 1 and not required:
        return None
    if len(admins) != 1:
        raise fail(
            "give --owner USER: who owns the imported projects "
            f"(this index has {len(admins)} administrators)"
        )
    return admins[0]


def run_import(
    data: Path | None,
    candidates: list[Candidate] | None,
    via: str,
    *,
    ignored: int = 0,
    refused: list[tuple[str, str]] | None = None,
) -> ImportReport:
    """Import the candidates with a progress bar, print the summary; exit 1 when any file
    was refused."""
    settings, db = open_db(data)
    storage = open_storage(settings.storage_url)
    err.print(f"data folder: {settings.data_dir}")
    try:
        with Progress(*COLUMNS, TimeElapsedColumn(), console=err) as bar:
            report = import_files(
                settings,
                db,
                storage,
                candidates or [],
                origin=CLI_ORIGIN,
                progress=Bar(bar),
                via=via,
            )
    except MoveError as exc:
        raise fail(str(exc)) from exc
    finally:
        storage.close()
        db.dispose()
    report.refused += refused or []
    summarize(report, ignored)
    return report


def summarize(report: ImportReport, ignored: int = 0) -> None:
    """What was imported, what was there already, and each refusal with its reason."""
    err.print(
        f"imported {len(report.imported)} file(s) into {len(report.projects)} project(s); "
        f"{len(report.present)} already there; {len(report.refused)} refused"
        + (f"; {ignored} other file(s) left (not distributions)" if ignored else "")
    )
    if report.refused:
        reasons = Counter(reason for _, reason in report.refused)
        for filename, reason in sorted(report.refused):
            err.print(f"[red]refused[/] {escape(filename)}: {escape(reason)}")
        if len(reasons) > 1:
            err.print("refusals by reason:")
            for reason, count in reasons.most_common():
                err.print(f"  {count} x {escape(reason)}")


@app.command("folder")
def import_folder(
    folder: Annotated[Path, typer.Argument(help="A pypiserver or 'pip download' folder.")],
    owner: OwnerOpt = None,
    data: DataOpt = None,
) -> None:
    """Import every distribution file of FOLDER (sub-folders too), each checked as an upload
    is, with its modification time as its upload time.

    Files already in the index are skipped: run it again to finish an interrupted import.
    Exit status: 0 every file imported (or there already), 1 some file refused or the import
    could not start."""
    if owner is None:
        _, db = open_db(data)
        try:
            owner = _default_owner(db)
        finally:
            db.dispose()
    assert owner is not None
    try:
        scan = scan_folder(folder, owner)
    except MoveError as exc:
        raise fail(str(exc)) from exc
    report = run_import(data, scan.candidates, f"folder {folder.resolve()}", ignored=scan.ignored)
    raise typer.Exit(1 if report.refused else 0)


@app.command("devpi")
def import_devpi(
    export: Annotated[Path, typer.Argument(help="A folder written by devpi-export.")],
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner",
            help="Who owns the files of devpi users that cannot be created here (no email "
            "address in the export, or a name or address taken). Default: the only "
            "administrator, if there is one.",
        ),
    ] = None,
    data: DataOpt = None,
) -> None:
    """Import a devpi export: its users (with their passwords when devpi kept an argon2
    hash) and the release files of its stage indexes, each checked as an upload is, with the
    upload time devpi logged.

    Mirror indexes, bases, documentation and tox results are skipped with a note. Users and
    files already here are kept: run it again to finish an interrupted import. Exit status: 0
    every file imported (or there already), 1 some file refused or the import could not
    start."""
    _, db = open_db(data)
    try:
        fallback = owner or _default_owner(db, required=False)
        try:
            plan = read_export(export, fallback)
        except MoveError as exc:
            raise fail(str(exc)) from exc
        users = create_users(db, plan.users, CLI_ORIGIN)
    finally:
        db.dispose()
    settle_owners(plan, users, fallback)
    err.print(
        f"users: {len(users.created)} created, {len(users.present)} already there, "
        f"{len(users.refused)} not created"
    )
    for name, reason in users.refused:
        err.print(f"[yellow]user not created[/] {escape(name)}: {escape(reason)}")
    if users.without_password:
        err.print(
            "without a password (devpi's hash cannot be read here; they set one through "
            f"'Forgot password'): {escape(', '.join(users.without_password))}"
        )
    for note in plan.notes:
        err.print(f"note: {escape(note)}")
    report = run_import(
        data, plan.candidates, f"devpi export {export.resolve()}", refused=plan.refused
    )
    raise typer.Exit(1 if report.refused else 0)
