"""`stockade release …`, `stockade project …` and the lifecycle commands of `stockade admin`."""

from __future__ import annotations

import typer

__all__ = ["project_app", "release_app"]

release_app = typer.Typer(no_args_is_help=True, help="Releases: yank and unyank.")
project_app = typer.Typer(no_args_is_help=True, help="Projects: show, delete, archive.")
