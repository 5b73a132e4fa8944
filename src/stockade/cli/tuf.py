"""`stockade tuf …`: TUF (PEP 458) keys, roots and metadata batches."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stockade.cli.common import CLI_ORIGIN, DataOpt, err, fail, group, open_db
from stockade.config import Settings
from stockade.db import Database
from stockade.jobs.interface import JobContext, JobResult
from stockade.jobs.runner import JobBusy, holder_name, run_job
from stockade.mail import mailer_from_settings
from stockade.tuf.job import TUF_JOB
from stockade.tuf.publish import publish
from stockade.tuf.repository import RootInfo, TufError, init_repository, root_info, sign_root

__all__ = ["app"]

app = group(help="TUF (PEP 458) signed metadata, served at <base>/tuf/.")

KeysOpt = Annotated[
    Path,
    typer.Option("--keys", help="Folder of the offline keys (root-N.pem, targets.pem)."),
]


@app.command("init")
def tuf_init(
    keys: KeysOpt,
    data: DataOpt = None,
    root_keys: Annotated[int, typer.Option("--root-keys", help="How many root keys.")] = 3,
    threshold: Annotated[
        int, typer.Option("--threshold", help="How many root keys must sign a new root.")
    ] = 2,
    bins: Annotated[
        int, typer.Option("--bins", help="Hashed bins, a power of two (16 … 16384).")
    ] = 16,
) -> None:
    """Create the offline keys in KEYS, the online key in the data folder and the first root,
    turn TUF on, and sign metadata for every file and page already in the index.

    Move the KEYS folder off the server afterwards: it is only needed to sign a new root."""
    if bins < 1 or bins & (bins - 1):
        raise fail("--bins must be a power of two")
    _show(
        _then_publish(
            data,
            lambda settings, db: init_repository(
                db,
                settings,
                keys,
                root_keys=root_keys,
                threshold=threshold,
                bit_length=bins.bit_length() - 1,
                origin=CLI_ORIGIN,
            ),
        )
    )
    err.print(f"offline keys in {keys}: move them off this server", highlight=False)


@app.command("sign-root")
def tuf_sign_root(
    keys: KeysOpt,
    data: DataOpt = None,
    rotate_online_key: Annotated[
        bool, typer.Option("--rotate-online-key", help="Replace the online key.")
    ] = False,
) -> None:
    """Sign the next version of root and targets (renewed for a year) with the root keys in
    KEYS (a threshold of them), replacing the online key if asked; then re-sign the rest."""
    _show(
        _then_publish(
            data,
            lambda settings, db: sign_root(
                db, settings, keys, rotate_online_key=rotate_online_key, origin=CLI_ORIGIN
            ),
        )
    )


@app.command("root")
def tuf_root(
    data: DataOpt = None,
    fingerprint: Annotated[
        bool, typer.Option("--fingerprint", help="Print only the SHA-256 of the newest root.")
    ] = False,
) -> None:
    """Show the newest root: its version, expiry and fingerprint (the SHA-256 of its bytes,
    which a client checks before trusting it)."""
    _, db = open_db(data)
    try:
        with db.read() as session:
            info = root_info(session)
    finally:
        db.dispose()
    if info is None:
        raise fail("TUF is off for this data folder: run `stockade tuf init` first")
    if fingerprint:
        typer.echo(info.fingerprint)
        return
    _show(info)


@app.command("publish")
def tuf_publish(data: DataOpt = None) -> None:
    """Sign metadata for every change since the last batch now (the server does it every
    tuf_batch_interval seconds), with a progress bar.

    Exit status: 0 done, 1 failed, 3 another worker is signing."""
    settings, db = open_db(data)
    try:
        _publish_now(settings, db)
    finally:
        db.dispose()


def _then_publish(data: Path | None, action: Callable[[Settings, Database], RootInfo]) -> RootInfo:
    """``action`` on the data folder, then a batch that signs everything it calls for."""
    settings, db = open_db(data)
    try:
        info = action(settings, db)
        _publish_now(settings, db)
    except TufError as exc:
        raise fail(str(exc)) from exc
    finally:
        db.dispose()
    return info


def _publish_now(settings: Settings, db: Database) -> None:
    with Progress(
        TextColumn("[bold]tuf"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("projects", total=None)

        def run(ctx: JobContext) -> JobResult:
            result = publish(
                ctx.db,
                ctx.settings,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
            if result is None:
                return JobResult(summary="TUF is off")
            return JobResult(summary=result.summary(), changes=result.warnings)

        ctx = JobContext(settings=settings, db=db, mailer=mailer_from_settings(settings))
        try:
            record = run_job(ctx, dataclasses.replace(TUF_JOB, run=run), holder=holder_name())
        except JobBusy as exc:
            raise fail(str(exc), code=3) from exc
    for line in record.result.changes:
        err.print(line, highlight=False)
    err.print(record.result.summary, highlight=False)


def _show(info: RootInfo) -> None:
    typer.echo(f"root v{info.version}, expires {info.expires:%Y-%m-%d}")
    typer.echo(f"fingerprint (sha256): {info.fingerprint}")
