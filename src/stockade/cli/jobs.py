"""`stockade jobs run NAME`: run a background job once."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stockade.catalogue import find_job, job_catalogue
from stockade.cli.common import DataOpt, err, fail, group, open_db
from stockade.jobs.interface import JobContext
from stockade.jobs.runner import JobBusy, holder_name, last_runs, run_job
from stockade.mail import mailer_from_settings

__all__ = ["app"]

app = group(help="Background jobs.")


@app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="The job (see 'stockade jobs list').")],
    data: DataOpt = None,
) -> None:
    """Run one job now (unless another worker is running it) and print what it changed.

    Exit status: 0 done, 1 the job failed or is unknown, 3 another worker is running it.
    """
    job = find_job(name)
    if job is None:
        raise fail(f"no job named {name!r}; known jobs: {', '.join(sorted(job_catalogue()))}")
    settings, db = open_db(data)
    try:
        ctx = JobContext(settings=settings, db=db, mailer=mailer_from_settings(settings))
        try:
            record = run_job(ctx, job, holder=holder_name("cli"))
        except JobBusy as exc:
            raise fail(str(exc), code=3) from exc
        except Exception as exc:
            raise fail(f"job {name} failed: {exc}") from exc
    finally:
        db.dispose()
    for line in record.result.changes:
        typer.echo(line)
    err.print(f"{name}: {escape(record.result.summary)}")


@app.command("list")
def jobs_list(data: DataOpt = None) -> None:
    """List the jobs, how often the scheduler runs them, and their last run."""
    _, db = open_db(data)
    table = Table(title="Jobs", title_justify="left")
    for column in ("Job", "Every", "Last run", "Status", "Result", "What it does"):
        table.add_column(column)
    try:
        for job in job_catalogue().values():
            runs = last_runs(db, job.name)
            last = runs[0] if runs else None
            table.add_row(
                job.name,
                _every(job.interval.total_seconds()),
                f"{last.started_at:%Y-%m-%d %H:%M:%S}" if last else "never",
                last.status if last else "—",
                escape((last.summary or "").splitlines()[0] if last and last.summary else ""),
                escape(job.description),
            )
    finally:
        db.dispose()
    Console(width=200).print(table)


def _every(seconds: float) -> str:
    if seconds % 86400 == 0:
        return f"{int(seconds // 86400)} d"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 60)} min"
