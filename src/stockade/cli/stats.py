"""`stockade stats`: download statistics from logs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from stockade.cli.common import DataOpt, err, fail, group, open_db
from stockade.stats.ingest import FORMATS, ingest_log

__all__ = ["app"]

app = group(help="Download statistics.")


@app.command("ingest")
def stats_ingest(
    file: Annotated[Path, typer.Argument(help="A log file (.gz is read decompressed).")],
    log_format: Annotated[
        str, typer.Option("--format", help="nginx (combined log format) or json (JSON lines).")
    ] = "nginx",
    data: DataOpt = None,
) -> None:
    """Count the downloads recorded in a web server or CDN log, once per file.

    Counted: GET requests of files under /packages/ answered 200 (not .metadata sidecars,
    not HEAD, range reads or 304s). A file already ingested (same content) changes nothing.
    Exit status: 0 done or already ingested, 1 the file cannot be read, 2 bad --format."""
    if log_format not in FORMATS:
        raise fail(f"unknown --format {log_format!r}: use one of {', '.join(FORMATS)}", code=2)
    if not file.is_file():
        raise fail(f"no such file: {file}")
    _, db = open_db(data)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(file.name, total=file.stat().st_size)
            result = ingest_log(
                db, file, log_format, progress=lambda done: bar.update(task, completed=done)
            )
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from exc
    finally:
        db.dispose()
    if result.already:
        err.print(f"{file} (sha256 {result.sha256[:16]}…) was already ingested: nothing changed")
        return
    out = Console()
    for day, n in result.per_day.items():
        out.print(f"{day.isoformat()}  {n}")
    err.print(
        f"{file}: {result.lines} line(s), {result.downloads} download(s) counted, "
        f"{result.skipped} other line(s) skipped, {result.unknown_files} download(s) of "
        "unknown files"
    )
