"""`stockade admin …`: administrator actions (commands come from the domain CLI modules)."""

from __future__ import annotations

from stockade.cli.common import group

__all__ = ["app"]

app = group(help="Administrator actions.")
