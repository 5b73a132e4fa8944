"""Jinja2 templates shared by every domain's pages."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

__all__ = ["templates"]

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def _filesize(value: int) -> str:
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


templates.env.filters["filesize"] = _filesize
