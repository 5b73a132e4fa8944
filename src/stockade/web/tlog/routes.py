"""The transparency log over HTTP (``/log/``): the signed checkpoint, C2SP tiles, proofs,
lookups by filename and the verifier key. Everything but proofs and lookups is static: a CDN
can serve it (tiles are immutable, the checkpoint changes only when the log grows)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from stockade.tlog.keys import load_signer
from stockade.tlog.reader import LogError, LogReader
from stockade.tlog.tiles import parse_tile_path
from stockade.web.context import AppContext, Ctx

__all__ = ["router"]

router = APIRouter(prefix="/log")

_IMMUTABLE = "public, max-age=31536000, immutable"
_NOTE = "text/plain; charset=utf-8"


def reader_of(request: Request, ctx: AppContext) -> LogReader:
    """This worker's log reader, made on the first request for ``/log/``: it drops its cached
    checkpoint whenever the journal says something changed."""
    reader: LogReader | None = getattr(request.app.state, "tlog", None)
    if reader is None:
        reader = LogReader(ctx.db, load_signer(ctx.settings))
        ctx.pages.listeners.append(reader.journal_changed)
        request.app.state.tlog = reader
    return reader


def _refused(exc: LogError) -> Response:
    return PlainTextResponse(exc.message + "\n", status_code=exc.status_code)


@router.get("/checkpoint")
async def checkpoint(request: Request, ctx: Ctx) -> Response:
    reader = reader_of(request, ctx)
    signed = await run_in_threadpool(reader.checkpoint)
    headers = {"etag": signed.etag, "cache-control": "public, max-age=5"}
    if request.headers.get("if-none-match") == signed.etag:
        return Response(status_code=304, headers=headers)
    return Response(signed.note, media_type=_NOTE, headers=headers)


@router.get("/key")
async def key(request: Request, ctx: Ctx) -> Response:
    verifier = reader_of(request, ctx).signer.verifier
    return PlainTextResponse(f"{verifier}\n", headers={"cache-control": "public, max-age=300"})


@router.get("/tile/{path:path}")
async def tile(path: str, request: Request, ctx: Ctx) -> Response:
    wanted = parse_tile_path(path)
    if wanted is None:
        return PlainTextResponse("Not a tile path (C2SP tlog-tiles).\n", status_code=404)
    try:
        body = await run_in_threadpool(reader_of(request, ctx).tile, wanted)
    except LogError as exc:
        return _refused(exc)
    return Response(
        body, media_type="application/octet-stream", headers={"cache-control": _IMMUTABLE}
    )


@router.get("/lookup/{filename}")
async def lookup(filename: str, request: Request, ctx: Ctx) -> Response:
    try:
        found = await run_in_threadpool(reader_of(request, ctx).lookup, filename)
    except LogError as exc:
        return _refused(exc)
    return JSONResponse(found, headers={"cache-control": "no-cache"})


@router.get("/proof/inclusion")
async def inclusion(
    request: Request,
    ctx: Ctx,
    index: int = Query(..., ge=0),
    size: int = Query(..., ge=1),
) -> Response:
    try:
        hashes = await run_in_threadpool(reader_of(request, ctx).inclusion, index, size)
    except LogError as exc:
        return _refused(exc)
    return JSONResponse({"hashes": hashes}, headers={"cache-control": _IMMUTABLE})


@router.get("/proof/consistency")
async def consistency(
    request: Request,
    ctx: Ctx,
    old: int = Query(..., ge=1),
    size: int = Query(..., ge=1),
) -> Response:
    try:
        hashes = await run_in_threadpool(reader_of(request, ctx).consistency, old, size)
    except LogError as exc:
        return _refused(exc)
    return JSONResponse({"hashes": hashes}, headers={"cache-control": _IMMUTABLE})
