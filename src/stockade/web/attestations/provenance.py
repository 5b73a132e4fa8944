"""``GET /integrity/<project>/<version>/<filename>/provenance`` (PEP 740)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from stockade.attestations.services import MEDIA_TYPE
from stockade.index.provenance import provenance_for
from stockade.web.context import Ctx

__all__ = ["router"]

router = APIRouter()

# How specific each Accept range that covers the integrity media type is (RFC 9110 12.5.1: the
# most specific range decides its quality). ``application/json`` is not one: PyPI answers 406.
_SPECIFICITY = {MEDIA_TYPE: 3, "application/*": 2, "*/*": 1}


def _quality(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def accepts_provenance(accept: str | None) -> bool:
    """Whether an ``Accept`` header admits the integrity media type (no header: yes). The most
    specific range naming it decides: ``…integrity.v1+json;q=0`` refuses it even next to
    ``*/*``."""
    if accept is None or not accept.strip():
        return True
    best: tuple[int, float] = (0, 0.0)
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        specificity = _SPECIFICITY.get(media.strip().lower(), 0)
        if specificity == 0:
            continue
        q = _quality(params)
        if specificity > best[0] or (specificity == best[0] and q > best[1]):
            best = (specificity, q)
    return best[1] > 0


def _message(status: int, message: str) -> Response:
    return Response(
        json.dumps({"message": message}),
        status_code=status,
        media_type="application/json",
        headers={"vary": "Accept"},
    )


@router.get("/integrity/{project}/{version}/{filename}/provenance", include_in_schema=False)
def provenance(project: str, version: str, filename: str, request: Request, ctx: Ctx) -> Response:
    """The file's PEP 740 provenance object; 404 when it has none, 406 on a wrong Accept."""
    if not accepts_provenance(request.headers.get("accept")):
        return _message(406, f"Not Acceptable: the provenance is served as {MEDIA_TYPE}")
    with ctx.db.read() as session:
        document = provenance_for(session, project, version, filename)
    if document is None:
        return _message(404, f"No provenance available for {filename}")
    return Response(
        json.dumps(document, separators=(",", ":")),
        media_type=MEDIA_TYPE,
        headers={"vary": "Accept", "cache-control": "max-age=60, public"},
    )
