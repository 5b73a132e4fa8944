"""``stockade export`` and ``stockade import bundle``: an index, or part of one, moved to
another machine (another backend, a network that reaches neither this index nor PyPI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress

from stockade.cli.common import DataOpt, err, fail, migrated, open_db, settings_from
from stockade.cli.upkeep import COLUMNS, Bar
from stockade.storage import open_storage
from stockade.upkeep.bundle.export import export_bundle
from stockade.upkeep.bundle.layout import BundleError
from stockade.upkeep.bundle.load import import_bundle

__all__ = ["export", "import_bundle_command"]


def export(
    dest: Annotated[
        Path, typer.Argument(help="A new (or empty) folder, or a file to create named *.tar.")
    ],
    project: Annotated[
        list[str] | None,
        typer.Option("--project", "-p", help="Export this project (repeat for more)."),
    ] = None,
    requirement: Annotated[
        Path | None,
        typer.Option(
            "--requirement",
            "-r",
            help="Export what this requirements file needs: the releases its requirements "
            "allow (for this machine's platform) and their dependencies.",
        ),
    ] = None,
    data: DataOpt = None,
) -> None:
    """Write the index (or the projects of --project, or what -r FILE needs) to DEST as a
    bundle: its rows, files, provenance, events and advisories, with the sha256 of each part,
    for "stockade import bundle" on another machine.

    Exit status: 0 written, 1 it could not be done (nothing is left at DEST)."""
    settings, db = open_db(data)
    storage = open_storage(settings.storage_url)
    err.print(f"data folder: {settings.data_dir}")
    try:
        with Progress(*COLUMNS, console=err) as bar:
            summary = export_bundle(
                db,
                storage,
                dest,
                projects=project or [],
                requirements=requirement,
                progress=Bar(bar),
            )
    except BundleError as exc:
        raise fail(str(exc)) from exc
    finally:
        storage.close()
        db.dispose()
    err.print(
        f"exported {summary.projects} project(s), {summary.files} file(s) and "
        f"{summary.blobs} blob(s) ({summary.bytes} bytes) to {dest}"
    )


def import_bundle_command(
    src: Annotated[Path, typer.Argument(help="A bundle: its folder or its .tar file.")],
    data: DataOpt = None,
) -> None:
    """Verify the bundle SRC (every part against its sha256) and bring it into this index:
    into an index holding nothing yet, a whole index is copied as it is; anything else is
    merged, project by project and file by file.

    A file here with other bytes under the same name is a conflict: reported, and left out.
    Importing the same bundle again changes nothing. Exit status: 0 done, 1 the bundle was
    refused (nothing stored) or some file was in conflict."""
    settings = settings_from(data, create=True)
    db = migrated(settings)
    storage = open_storage(settings.storage_url)
    err.print(f"data folder: {settings.data_dir}")
    try:
        with Progress(*COLUMNS, console=err) as bar:
            result = import_bundle(settings, db, storage, src, progress=Bar(bar))
    except BundleError as exc:
        raise fail(f"the bundle was refused, nothing was stored: {exc}") from exc
    finally:
        storage.close()
        db.dispose()
    if result.copied is not None:
        err.print(
            f"copied the whole index: {result.copied.get('projects', 0)} project(s), "
            f"{result.copied.get('files', 0)} file(s), {result.blobs} blob(s)"
        )
        return
    report = result.merged
    assert report is not None  # an import either copied or merged
    err.print(
        f"imported {len(report.imported)} file(s) into {len(report.projects)} project(s); "
        f"{len(report.present)} already there; {len(report.conflicts)} in conflict; "
        f"{report.events} event(s) and {report.advisories} advisory(ies) added"
    )
    for filename, reason in report.left_out:
        err.print(f"[yellow]left out[/] {escape(filename)}: {escape(reason)}")
    for filename, reason in report.conflicts:
        err.print(f"[red]conflict[/] {escape(filename)}: {escape(reason)}")
    if report.conflicts:
        raise typer.Exit(1)
