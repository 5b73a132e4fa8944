"""The upload form reader driven straight from bytes, as a client would send them in chunks:
for the fuzzers, which need no server."""

from __future__ import annotations

from pathlib import Path

import anyio
from starlette.requests import Request

from stockade.web.publish.multipart import read_upload_form

__all__ = ["read_form_bytes"]


def read_form_bytes(
    body: bytes, spool: Path, boundary: bytes, *, chunk: int = 97, max_size: int = 10_000
) -> None:
    """Read ``body`` as an upload form (multipart with ``boundary``) sent in ``chunk``-byte
    pieces, then drop the spooled file. Raises what the reader raises (FormError)."""
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]

    async def read() -> None:
        sent = iter(chunks)

        async def receive() -> dict[str, object]:
            piece = next(sent, None)
            return {"type": "http.request", "body": piece or b"", "more_body": piece is not None}

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/legacy/",
            "headers": [(b"content-type", b"multipart/form-data; boundary=" + boundary)],
        }
        form = await read_upload_form(Request(scope, receive), spool, max_size, idle_timeout=5)
        if form.file is not None:
            form.file.discard()

    anyio.run(read)
