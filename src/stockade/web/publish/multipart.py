"""Streaming reader for the legacy upload form (``multipart/form-data``).

The ``content`` part is written to a temporary file while it is hashed with sha256,
blake2b-256 and md5, so a file is never held whole in memory. Hashing and writing run in a
worker thread in 1 MiB batches (hashlib releases the GIL), keeping the event loop free for
the read path during large uploads.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from stockade.errors import ServiceError
from stockade.publish.form import UploadedFile, UploadForm

__all__ = ["FormError", "read_upload_form"]

_BATCH = 1024 * 1024
MAX_FIELDS = 2000
MAX_FIELD_BYTES = 4 * 1024 * 1024
MAX_TOTAL_FIELD_BYTES = 16 * 1024 * 1024
# Room for the form's framing (boundaries, part headers) beyond the file and the fields.
_FRAMING_BYTES = 1024 * 1024
# The slowest an upload may arrive on average: a body gets a minute plus the time its length
# (declared, or the most the form may hold) takes at this rate, then it is refused (a client
# cannot hold a connection and a spool file open by trickling bytes).
MIN_UPLOAD_RATE = 32 * 1024


class FormError(ServiceError):
    """The request body is not an acceptable upload form (``status``, ``message``)."""


class _FileSink:
    def __init__(self, tmp_dir: Path, filename: str, max_size: int) -> None:
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=".part")
        self.fh = os.fdopen(fd, "wb")
        self.path = Path(name)
        self.filename = filename
        self.max_size = max_size
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.blake2 = hashlib.blake2b(digest_size=32)
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_size:
            limit = self.max_size // (1024 * 1024)
            raise FormError(400, f"File too large. Limit for this index is {limit} MB.")
        self.pending.append(data)
        self.pending_bytes += len(data)

    def take(self) -> bytes:
        data = b"".join(self.pending)
        self.pending.clear()
        self.pending_bytes = 0
        return data

    def process(self, data: bytes) -> None:
        if data:
            self.sha256.update(data)
            self.blake2.update(data)
            self.md5.update(data)
            self.fh.write(data)

    def finish(self) -> UploadedFile:
        self.fh.flush()
        self.fh.close()
        return UploadedFile(
            path=self.path,
            filename=self.filename,
            size=self.size,
            sha256=self.sha256.hexdigest(),
            blake2_256=self.blake2.hexdigest(),
            md5=self.md5.hexdigest(),
        )

    def abort(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        self.path.unlink(missing_ok=True)


class _State:
    def __init__(self, tmp_dir: Path, max_file_size: int) -> None:
        self.tmp_dir = tmp_dir
        self.max_file_size = max_file_size
        self.form = UploadForm()
        self.headers: dict[bytes, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.part_name: str | None = None
        self.part_value = bytearray()
        self.sink: _FileSink | None = None
        self.finished_sinks: list[_FileSink] = []
        self.field_count = 0
        self.field_bytes = 0

    # python-multipart callbacks
    def on_part_begin(self) -> None:
        self.headers = {}
        self.part_name = None
        self.part_value = bytearray()
        self.sink = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = b""
        self.header_value = b""

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise FormError(400, "Invalid form data: a part has no Content-Disposition name.")
        self.part_name = options[b"name"].decode("utf-8", "replace")
        self.field_count += 1
        if self.field_count > MAX_FIELDS:
            raise FormError(400, "Too many form fields.")
        if b"filename" in options:
            if self.part_name != "content":
                raise FormError(400, "Invalid form data: unexpected file field.")
            # Exactly one file per upload: a second one would be ignored and its spool left.
            if self.finished_sinks or self.sink is not None:
                raise FormError(400, "Invalid form data: more than one 'content' file.")
            filename = options[b"filename"].decode("utf-8", "replace")
            self.sink = _FileSink(self.tmp_dir, filename, self.max_file_size)
        elif self.part_name == "content":
            raise FormError(400, "Invalid form data: 'content' must be a file.")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.sink is not None:
            self.sink.feed(chunk)
            return
        self.field_bytes += len(chunk)
        if len(self.part_value) + len(chunk) > MAX_FIELD_BYTES:
            raise FormError(400, f"Form field {self.part_name!r} is too large.")
        if self.field_bytes > MAX_TOTAL_FIELD_BYTES:
            raise FormError(400, "Form fields are too large.")
        self.part_value += chunk

    def on_part_end(self) -> None:
        if self.sink is not None:
            self.finished_sinks.append(self.sink)
            self.sink = None
            return
        assert self.part_name is not None
        try:
            value = self.part_value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormError(400, f"Form field {self.part_name!r} is not valid UTF-8.") from exc
        self.form.fields.setdefault(self.part_name, []).append(value)


async def read_upload_form(
    request: Request,
    tmp_dir: Path,
    max_file_size: int,
    *,
    idle_timeout: float = 60.0,
    min_rate: int = MIN_UPLOAD_RATE,
    grace: float = 60.0,
) -> UploadForm:
    """Read and parse the whole upload form. Raises FormError (the temp file is removed).

    The body is bounded before a byte is read (a declared ``Content-Length`` beyond what the
    form may hold is refused with 413) and in time: ``idle_timeout`` seconds without data, or
    a body slower on average than ``min_rate`` bytes a second (after ``grace`` seconds), is
    refused with 408."""
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in options:
        raise FormError(400, "Invalid request: expected multipart/form-data.")
    most = max_file_size + MAX_TOTAL_FIELD_BYTES + _FRAMING_BYTES
    declared = _content_length(request)
    if declared is not None and declared > most:
        limit = max_file_size // (1024 * 1024)
        raise FormError(413, f"Request body too large. Limit for this index is {limit} MB.")
    deadline = (
        anyio.current_time() + grace + (declared if declared is not None else most) / min_rate
    )
    tmp_dir.mkdir(parents=True, exist_ok=True)
    state = _State(tmp_dir, max_file_size)
    callbacks: Any = {
        name: getattr(state, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(options[b"boundary"], callbacks)
    try:
        async for chunk in _timed(request, idle_timeout, deadline):
            parser.write(chunk)
            for sink in _sinks(state):
                if sink.pending_bytes >= _BATCH:
                    await anyio.to_thread.run_sync(sink.process, sink.take())
        parser.finalize()
        if state.sink is not None:
            raise FormError(400, "Invalid form data: the upload ended in the middle of a file.")
        for sink in state.finished_sinks:
            await anyio.to_thread.run_sync(sink.process, sink.take())
        if state.finished_sinks:
            state.form.file = state.finished_sinks[0].finish()
    except FormError:
        _abort(state)
        raise
    except Exception as exc:
        _abort(state)
        raise FormError(400, f"Invalid form data: {exc}") from exc
    except BaseException:
        _abort(state)
        raise
    return state.form


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise FormError(400, "Invalid request: bad Content-Length.")
    return int(value)


async def _timed(request: Request, idle_timeout: float, deadline: float) -> AsyncIterator[bytes]:
    """The body's chunks, refused with 408 when one is ``idle_timeout`` seconds late or the
    whole body is not in by ``deadline`` (event-loop time)."""
    chunks = request.stream().__aiter__()
    while True:
        wait = min(idle_timeout, deadline - anyio.current_time())
        try:
            with anyio.fail_after(max(wait, 0)):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise FormError(408, "Request timeout: the upload arrived too slowly.") from None
        yield chunk


def _sinks(state: _State) -> list[_FileSink]:
    return ([state.sink] if state.sink is not None else []) + state.finished_sinks


def _abort(state: _State) -> None:
    for sink in _sinks(state):
        sink.abort()
