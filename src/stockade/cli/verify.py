"""`stockade verify`: check files against an index's transparency log, from any machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import httpx
import typer

from stockade.cli.common import err
from stockade.verify.interface import Check, Target, VerifyError
from stockade.verify.logcheck import LogCheck, state_folder
from stockade.verify.run import Outcome, verify
from stockade.verify.targets import file_target, read_requirements, release_targets

__all__ = ["verify_command"]


def _default_state() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "stockade" / "verify"


def verify_command(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Distribution files to verify.", show_default=False)
    ] = None,
    index: Annotated[
        str, typer.Option("--index", envvar="STOCKADE_VERIFY_INDEX", help="The index's base URL.")
    ] = "",
    requirements: Annotated[
        list[Path] | None,
        typer.Option(
            "-r",
            "--requirement",
            help="A requirements file: every file of each name==version (of its --hash "
            "values, when given) as the index lists it.",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            envvar="STOCKADE_VERIFY_STATE",
            help="Where the log's key and last checkpoint are kept "
            "(default: $XDG_STATE_HOME/stockade/verify).",
        ),
    ] = None,
    log_key: Annotated[
        str | None,
        typer.Option(
            "--log-key",
            help="The log's key (from stockade log key); default: pinned on first use.",
        ),
    ] = None,
) -> None:
    """Verify files against an index: each must be in its transparency log with the same
    sha256 and not deleted, and the log must extend the one seen last time (nothing rewritten).

    Exit status: 0 everything verified, 1 something did not (each failure is printed), 2 the
    command was used wrongly."""
    if not index:
        err.print("[red]error:[/] --index URL is required")
        raise typer.Exit(2)
    if not files and not requirements:
        err.print("[red]error:[/] give files to verify, or -r requirements.txt")
        raise typer.Exit(2)
    index = index.rstrip("/")
    folder = state_folder(state or _default_state(), index)
    failed = False

    def report(outcome: Outcome) -> None:
        nonlocal failed
        name = outcome.target.filename
        if outcome.ok:
            typer.echo(f"ok     {name}  ({outcome.message})")
        else:
            failed = True
            typer.echo(f"FAILED {name}: {outcome.message}")

    with httpx.Client(timeout=30.0, follow_redirects=True) as client:
        try:
            targets: list[Target] = [file_target(path) for path in files or []]
            for path in requirements or []:
                for pin in read_requirements(path):
                    targets.extend(release_targets(client, index, pin))
            log = LogCheck(client, index, folder, key=log_key)
            checks: list[Check] = [log]
            verify(checks, targets, report=report)
        except (VerifyError, OSError) as exc:
            err.print(f"[red]verification failed:[/] {exc}", highlight=False)
            raise typer.Exit(1) from exc
        for note in log.notes:
            err.print(note, highlight=False)
    if failed:
        err.print("[red]verification failed[/]")
        raise typer.Exit(1)
