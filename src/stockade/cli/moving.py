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


def _default_owner(db: Database) -> str:
    with db.read() as session:
        admins = list(session.scalars(select(User.username).where(User.is_admin.is_(True))))
    if len(admins) != 1:
        raise fail(
            "give --owner USER: who owns the imported projects "
            f"(this index has {len(admins)} administrators)"
        )
    return admins[0]


def run_import(
    data: Path | None, candidates: list[Candidate] | None, via: str, *, ignored: int = 0
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
    try:
        scan = scan_folder(folder, owner)
    except MoveError as exc:
        raise fail(str(exc)) from exc
    report = run_import(data, scan.candidates, f"folder {folder.resolve()}", ignored=scan.ignored)
    raise typer.Exit(1 if report.refused else 0)
