"""Jinja2 templates shared by every domain's pages, and ``render`` to answer with one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from stockade.web.auth import csrf_input
from stockade.web.useragents import short_agent

__all__ = ["render", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def _filesize(value: int) -> str:
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


templates.env.filters["filesize"] = _filesize
templates.env.filters["agent"] = short_agent
templates.env.globals["csrf_input"] = csrf_input


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render a template. Every template sees ``identity`` (the logged-in user or None),
    ``site_name`` and ``csrf_input(request)``."""
    ctx = request.app.state.ctx
    values = {
        "identity": getattr(request.state, "identity", None),
        "site_name": ctx.settings.site_name,
        **(context or {}),
    }
    response: Response = templates.TemplateResponse(
        request, name, values, status_code=status_code, headers=headers
    )
    return response
