"""The JSON APIs' one body reader: bounded while it is read, parsed, and refused when any
string in it holds a NUL character (no name, version, token or report text has one, and
PostgreSQL cannot store or even compare a text value with it)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

__all__ = ["BodyError", "read_json"]


class BodyError(ValueError):
    """A body refused before any route looks at it: its status (400 or 413) and reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON document, read up to ``limit`` bytes. Raises BodyError."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise BodyError(413, f"The request body is too large: at most {limit} bytes.")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BodyError(400, "The request body is not JSON.") from None
    if _has_nul(doc):
        raise BodyError(400, "The request body contains a NUL character.")
    return doc
