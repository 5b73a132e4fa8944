"""What every `stockade` subcommand shares: the --data option, settings, the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from stockade import catalogue  # noqa: F401  (every model mapped before the first query)
from stockade.config import ConfigError, Settings, data_folder, load_settings
from stockade.db import Database
from stockade.db.migrate import upgrade
from stockade.errors import ServiceError
from stockade.events.services import CLI as CLI_ORIGIN

__all__ = [
    "CLI_ORIGIN",
    "DataOpt",
    "err",
    "fail",
    "group",
    "in_transaction",
    "migrated",
    "open_db",
    "settings_from",
]

T = TypeVar("T")

err = Console(stderr=True)

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        envvar="STOCKADE_DATA_DIR",
        help="Data folder (stockade.toml, database, files).",
    ),
]


def group(help: str) -> typer.Typer:
    """A group of subcommands. Its --help is plain text: rich markup would turn words like
    ':email:' in an event name into emoji, and label every flag (--help too) '<bool>'."""
    return typer.Typer(no_args_is_help=True, rich_markup_mode=None, help=help)


# The data folder this command uses, named in its error messages ("no user named alice" in an
# unexpected folder is otherwise a mystery).
_used: list[Path] = []


def settings_from(data: Path | None, *, create: bool = False, **overrides: Any) -> Settings:
    """Settings for the data folder, or exit 2 with the configuration problem. Only 'create'
    ('serve', 'db migrate', restoring a backup) makes a folder that does not exist: any
    other command run from the wrong folder would work on a new, empty index."""
    folder = data_folder(data)
    if not create and not folder.is_dir():
        err.print(
            f"[red]error:[/] no data folder at {folder}: give --data DIR (or set "
            "STOCKADE_DATA_DIR), or run `stockade serve` or `stockade db migrate` to create one"
        )
        raise typer.Exit(2)
    _used[:] = [folder]
    try:
        return load_settings(data, overrides={k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc


def migrated(settings: Settings) -> Database:
    """The database, created or upgraded to the newest schema."""
    db = Database(settings.database_url)
    upgrade(db)
    return db


def open_db(data: Path | None) -> tuple[Settings, Database]:
    """Settings and the migrated database of a data folder (callers dispose the database)."""
    settings = settings_from(data)
    return settings, migrated(settings)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error and return the Exit to raise."""
    where = f" (data folder: {_used[0]})" if _used else ""
    err.print(f"[red]error:[/] {message}{where}")
    return typer.Exit(code)


def in_transaction(data: Path | None, action: Callable[[Any], T], *, write: bool = True) -> T:
    """Run 'action' with a session in one transaction of the data folder's database; a
    service's refusal exits 1 with its message."""
    _, db = open_db(data)
    try:
        with db.write() if write else db.read() as session:
            return action(session)
    except ServiceError as exc:
        raise fail(exc.message) from exc
    finally:
        db.dispose()
