"""The upkeep commands of `stockade admin`: ``fsck`` checks (and repairs) every invariant
between the database, the blob store, the pages and the spool folder."""

from __future__ import annotations

import json
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

from stockade.cli.admin import app as admin_app
from stockade.cli.common import DataOpt, err, open_db
from stockade.storage import open_storage
from stockade.upkeep.fsck import fsck

__all__ = ["admin_fsck"]

_COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())


class _Bar:
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
        with Progress(*_COLUMNS, TimeElapsedColumn(), console=err, transient=as_json) as bar:
            report = fsck(settings, db, storage, repair=repair, progress=_Bar(bar))
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
