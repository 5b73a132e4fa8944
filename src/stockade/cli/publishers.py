"""`stockade publisher …`: trusted publishers of projects."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Trusted publishers (OIDC).")
