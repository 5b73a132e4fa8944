"""`stockade advisories`: import known vulnerabilities (OSV JSON or PyPA YAML advisories)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stockade.advisories.importer import import_documents
from stockade.advisories.notices import NoticeOutbox
from stockade.advisories.sources import SourceError, open_sources
from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, group, open_db
from stockade.mail import mailer_from_settings

__all__ = ["app"]

app = group(help="Known vulnerabilities (OSV advisories).")


@app.command("import")
def advisories_import(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Folders, zips, OSV .json or PyPA .yaml files, or http(s) URLs of them.",
            show_default=False,
        ),
    ],
    data: DataOpt = None,
) -> None:
    """Import advisories: new ones are added, newer 'modified' ones replace older, the same
    input again changes nothing. Records sharing an id or alias become one advisory; withdrawn
    ones match nothing. Owners of newly matched projects get a mail.

    Exit status: 0 imported (unreadable documents are listed, not fatal), 1 a source cannot be
    read at all."""
    settings, db = open_db(data)
    outbox = NoticeOutbox(base_url=settings.base_url, site_name=settings.site_name)
    try:
        with (
            open_sources(paths) as documents,
            Progress(
                TextColumn("[bold]advisories"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as bar,
        ):
            task = bar.add_task("import", total=len(documents))
            result = import_documents(
                db,
                documents,
                origin=CLI_ORIGIN,
                outbox=outbox,
                progress=lambda done: bar.update(task, completed=done),
            )
    except SourceError as exc:
        raise fail(str(exc)) from exc
    finally:
        db.dispose()
    outbox.deliver(mailer_from_settings(settings))
    for line in result.invalid:
        err.print(f"[yellow]skipped[/] {line}", highlight=False)
    for osv_id, project in result.notified:
        err.print(f"{osv_id} affects {project}: its owners were told", highlight=False)
    err.print(result.summary(), highlight=False)
