"""Reading API tokens from HTTP requests: HTTP Basic ``__token__:<token>`` (twine, uv) and
``Authorization: Bearer <token>``."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

__all__ = ["basic_credentials", "request_token"]


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The (user, password) of an HTTP Basic ``Authorization`` header; None when there is none
    or it is malformed."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def request_token(request: Request) -> str | None:
    """The API token of ``Authorization: Bearer`` or of HTTP Basic with the user ``__token__``."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    credentials = basic_credentials(request)
    if credentials is None or credentials[0] != "__token__":
        return None
    return credentials[1]
