"""`stockade log …`: the transparency log's key, bootstrapping it, turning it on and off."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stockade.cli.common import CLI_ORIGIN, DataOpt, err, group, open_db, settings_from
from stockade.index.filelog import bootstrap
from stockade.tlog.keys import key_path, load_signer
from stockade.tlog.services import read_state, set_enabled

__all__ = ["app"]

app = group(help="The transparency log: an append-only Merkle log of every file change.")


@app.command("key")
def log_key(data: DataOpt = None) -> None:
    """Print the log's public key (a signed-note verifier key: name+id+key), making the key
    pair on first use. Give it to clients: stockade verify --log-key KEY."""
    settings = settings_from(data)
    signer = load_signer(settings)
    err.print(f"private key: {key_path(settings)}", highlight=False)
    typer.echo(str(signer.verifier))


@app.command("bootstrap")
def log_bootstrap(data: DataOpt = None) -> None:
    """Log every file already in the index (those published before the log existed, or while
    it was off): one publish entry each, and yank, delete and quarantine entries for their
    state now. Safe to run again: files the log already has add nothing."""
    _, db = open_db(data)
    try:
        with Progress(
            TextColumn("[bold]projects"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("bootstrap", total=None)
            appended = bootstrap(
                db,
                origin=CLI_ORIGIN,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        with db.read() as session:
            size = read_state(session).size
    finally:
        db.dispose()
    typer.echo(f"{appended} entries appended; the log has {size} entries.")


@app.command("disable")
def log_disable(data: DataOpt = None) -> None:
    """Stop logging changes (until stockade log bootstrap turns it on and catches up)."""
    _, db = open_db(data)
    try:
        with db.write() as session:
            set_enabled(session, False, origin=CLI_ORIGIN)
    finally:
        db.dispose()
    typer.echo("The transparency log is off; stockade log bootstrap turns it on again.")
