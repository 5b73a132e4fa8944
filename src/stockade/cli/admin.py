"""`stockade admin …`: administrator actions (commands come from the domain CLI modules)."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Administrator actions.")
