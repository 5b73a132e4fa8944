"""The upkeep commands of `stockade admin`: 'fsck' checks (and repairs) every invariant
between the database, the blob store, the pages and the spool folder; 'backup' and
'restore' copy an index out and make one again from the copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from stockade.cli import lifecycle
from stockade.cli.admin import app as admin_app
from stockade.cli.common import DataOpt, err, fail, open_db, settings_from
from stockade.storage import open_storage
from stockade.upkeep.backup import BackupError, backup, is_backup, restore
from stockade.upkeep.fsck import fsck

__all__ = ["COLUMNS", "Bar", "admin_backup", "admin_fsck", "admin_restore"]

COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())


class Bar:
    """fsck's progress as a rich progress bar on stderr."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, description: str, total: int | None) -> None:
        self._task = self._progress.add_task(description, total=total)

    def advance(self) -> None:
        if self._task is not None:
            self._progress.advance(self._task)


@admin_app.command("fsck")
def admin_fsck(
    data: DataOpt = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Delete orphans and stale spools, re-render pages.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check every invariant: each file's blob is there and hashes right, each blob belongs to
    a file, each simple page matches the database, no spool is abandoned.

    Exit status: 0 when every invariant holds (after --repair: when every problem was
    repaired), 1 otherwise.
    """
    settings, db = open_db(data)
    storage = open_storage(settings.storage_url)
    try:
        with Progress(*COLUMNS, TimeElapsedColumn(), console=err, transient=as_json) as bar:
            report = fsck(settings, db, storage, repair=repair, progress=Bar(bar))
    finally:
        storage.close()
        db.dispose()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        checked = ", ".join(f"{n} {what}" for what, n in report.checked.items())
        err.print(f"checked: {checked}")
        for problem in report.problems:
            mark = "[green]repaired[/]" if problem.repaired else "[red]problem[/]"
            err.print(f"{mark} {escape(problem.message)}")
        if report.ok:
            err.print("[green]every invariant holds[/]")
    raise typer.Exit(0 if report.ok else 1)


@admin_app.command("backup")
def admin_backup(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
    data: DataOpt = None,
    portable: Annotated[
        bool,
        typer.Option(
            "--portable",
            help="Copy the database as rows (JSON lines) that restore into SQLite or "
            "PostgreSQL, whichever this backup came from.",
        ),
    ] = False,
) -> None:
    """Copy the database (consistently, while the server runs) and every blob it references
    into DEST, with the secret key. Exit status: 0 done, 1 it could not be done."""
    settings, db = open_db(data)
    storage = open_storage(settings.storage_url)
    try:
        with Progress(*COLUMNS, console=err) as bar:
            summary = backup(settings, db, storage, dest, progress=Bar(bar), portable=portable)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    finally:
        storage.close()
        db.dispose()
    err.print(
        f"backed up the {summary.database} database and {summary.blobs} blob(s) "
        f"({summary.bytes} bytes) to {dest}"
    )


@admin_app.command("restore")
def admin_restore(
    what: Annotated[
        str,
        typer.Argument(
            metavar="SRC|PROJECT",
            help="A folder written by 'stockade admin backup', or a deleted project's name.",
        ),
    ],
    version: Annotated[str | None, typer.Argument(help="Restore only this release.")] = None,
    file: Annotated[str | None, typer.Option("--file", help="Restore only this file.")] = None,
    data: DataOpt = None,
) -> None:
    """Make this data folder's index from the backup SRC (its database must be empty), or
    bring back a deleted PROJECT, release (VERSION) or file (--file FILENAME).

    SRC is a folder holding a backup's manifest.json; anything else names a project. Exit
    status: 0 done, 1 it could not be done."""
    src = Path(what)
    if not is_backup(src):
        lifecycle.admin_restore(what, version, file, data)
        return
    if version is not None or file is not None:
        raise fail("a backup is restored whole: give no VERSION or --file with a backup folder")
    settings = settings_from(data, create=True)
    storage = open_storage(settings.storage_url)
    try:
        with Progress(*COLUMNS, console=err) as bar:
            summary = restore(settings, src, storage, progress=Bar(bar))
    except BackupError as exc:
        raise fail(str(exc)) from exc
    finally:
        storage.close()
    err.print(
        f"restored the {summary.database} database and {summary.blobs} blob(s) "
        f"({summary.bytes} bytes) from {src}"
    )
