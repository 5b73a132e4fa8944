"""``/openapi.json``: the hand-written OpenAPI description of the JSON endpoints
(``openapi.yaml`` beside this module), read once per process."""

from __future__ import annotations

import functools
import json
from importlib.resources import files

import yaml
from fastapi import APIRouter
from starlette.responses import Response

__all__ = ["description", "router"]

router = APIRouter(include_in_schema=False)


@functools.cache
def description() -> bytes:
    """The description as JSON bytes (the YAML is the source, for its comments)."""
    text = files("stockade.web").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return json.dumps(yaml.safe_load(text), separators=(",", ":")).encode()


@router.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of the index's JSON endpoints."""
    return Response(
        description(),
        media_type="application/json",
        headers={"cache-control": "max-age=3600, public"},
    )
