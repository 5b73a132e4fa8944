"""`stockade events …`: the audit log from the shell."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Read the audit log.")
