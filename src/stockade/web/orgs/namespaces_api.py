"""PEP 752's namespace API: ``GET /namespaces`` (every grant) and ``GET /namespace/<name>``
(one grant: its parent, direct children and owner), in the JSON form of the simple API whose
version (1.5) announces them."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from packaging.utils import canonicalize_name
from starlette.responses import RedirectResponse, Response

from stockade.orgs.namespaces import detail, list_grants
from stockade.web.context import Ctx

__all__ = ["router"]

router = APIRouter()

_JSON = "application/vnd.pypi.simple.v1+json"


def _json(doc: Any, status_code: int = 200) -> Response:
    body = json.dumps(doc, separators=(",", ":")).encode()
    return Response(body, status_code=status_code, media_type=_JSON)


@router.get("/namespaces", include_in_schema=False)
def namespaces(ctx: Ctx) -> Response:
    """Every reserved namespace: ``[{"name": …}, …]``."""
    with ctx.db.read() as session:
        grants = list_grants(session)
    return _json([{"name": name} for name, _owner in grants])


@router.get("/namespace/{name}", include_in_schema=False)
def namespace(name: str, ctx: Ctx) -> Response:
    """One reserved namespace; a non-normalized name is redirected to its normalized URL."""
    normalized = canonicalize_name(name)
    if normalized != name:
        return RedirectResponse(f"/namespace/{normalized}", status_code=301)
    with ctx.db.read() as session:
        found = detail(session, normalized)
    if found is None:
        return _json({"message": f"No namespace {normalized!r} is reserved."}, status_code=404)
    return _json(
        {
            "name": found.name,
            "parent": found.parent,
            "children": list(found.children),
            "owner": found.owner,
        }
    )
