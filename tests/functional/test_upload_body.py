"""The upload body as hostile clients send it: two files, a file that is not one, part headers
without end, a declared length far beyond the limit, and bodies that stall or trickle. Each is
refused with a one-line 4xx, stores nothing and leaves no spool file behind."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.requests import Request

from stockade.config import replace
from stockade.web.publish.multipart import FormError, read_upload_form
from support.builders import wheel_bytes, wheel_name
from support.index import Index, upload_fields

BOUNDARY = "stockadeboundary"


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def _body(parts: list[bytes]) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _fields(content: bytes, filename: str) -> list[bytes]:
    return [_part(k, str(v).encode()) for k, v in upload_fields(content, filename).items()]


def _post(index: Index, body: bytes) -> httpx.Response:
    return index.client.post(
        "/legacy/",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        auth=("__token__", index.token()),
    )


def _nothing_left(index: Index) -> None:
    with index.db.read() as s:
        from sqlalchemy import func, select

        from stockade.index.models import File

        assert s.scalar(select(func.count()).select_from(File)) == 0
    assert not list(index.settings.tmp_dir.iterdir())


def test_two_content_files_are_refused_and_leave_no_spool(index: Index) -> None:
    wheel, name = wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")
    other = wheel_bytes("demo", "1.0", files={"demo/x.py": b"x = 2\n"})
    body = _body(
        [*_fields(wheel, name), _part("content", wheel, name), _part("content", other, name)]
    )
    r = _post(index, body)
    assert r.status_code == 400
    assert r.text.strip() == "Invalid form data: more than one 'content' file."
    _nothing_left(index)
    # The same form with one file is taken.
    assert (
        _post(index, _body([*_fields(wheel, name), _part("content", wheel, name)])).status_code
        == 200
    )


def test_content_that_is_not_a_file_is_refused(index: Index) -> None:
    wheel, name = wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")
    r = _post(index, _body([*_fields(wheel, name), _part("content", wheel)]))
    assert r.status_code == 400
    assert r.text.strip() == "Invalid form data: 'content' must be a file."
    _nothing_left(index)


def test_endless_part_headers_are_refused(index: Index) -> None:
    body = f"--{BOUNDARY}\r\nX-Pad: ".encode() + b"a" * (64 * 1024) + b"\r\n\r\nx\r\n"
    r = _post(index, body + f"--{BOUNDARY}--\r\n".encode())
    assert r.status_code == 400
    # python-multipart bounds a part's headers itself.
    assert r.text.strip() == "Invalid form data: Maximum header size exceeded"
    _nothing_left(index)


@pytest.fixture
def live_index(settings) -> Iterator[tuple[Index, str]]:  # type: ignore[no-untyped-def]
    with Index.open(replace(settings, upload_idle_timeout=1.0)) as index, index.live() as url:
        yield index, url


def _raw_upload(url: str, token: str, declared: int, sent: bytes) -> socket.socket:
    import base64

    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    auth = base64.b64encode(f"__token__:{token}".encode()).decode()
    head = (
        "POST /legacy/ HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Authorization: Basic {auth}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_terabyte_declared_is_refused_before_reading(live_index: tuple[Index, str]) -> None:
    index, url = live_index
    started = time.monotonic()
    with _raw_upload(url, index.token(), 10**12, _part("name", b"demo")) as sock:
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert time.monotonic() - started < 5
    assert not list(index.settings.tmp_dir.iterdir())


def test_a_stalled_body_is_refused_and_its_spool_removed(live_index: tuple[Index, str]) -> None:
    index, url = live_index
    wheel, name = wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")
    body = _body([*_fields(wheel, name), _part("content", wheel, name)])
    # Everything up to the middle of the file, then nothing: the spool file exists by then.
    cut = body.index(wheel) + len(wheel) // 2
    started = time.monotonic()
    with _raw_upload(url, index.token(), len(body), body[:cut]) as sock:
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert 0.9 < time.monotonic() - started < 10
    assert not list(index.settings.tmp_dir.iterdir())
    _nothing_left(index)


def test_a_trickling_body_is_refused_at_its_deadline(tmp_path: Path) -> None:
    # A byte every 0.1 s never trips the 1 s idle timeout, but 100 B/s over a 300-byte body
    # (plus 0.5 s of grace) ends it after 3.5 s.
    body = _body([_part("name", b"demo"), _part("content", b"x" * 200, "demo.whl")])
    sent: list[int] = []

    async def receive() -> dict[str, object]:
        if len(sent) < len(body):
            await anyio.sleep(0.1)
            sent.append(1)
            return {
                "type": "http.request",
                "body": body[len(sent) - 1 : len(sent)],
                "more_body": True,
            }
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/legacy/",
        "headers": [
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }

    async def read() -> None:
        await read_upload_form(
            Request(scope, receive), tmp_path, 10_000, idle_timeout=1.0, min_rate=100, grace=0.5
        )

    started = time.monotonic()
    with pytest.raises(FormError) as info:
        anyio.run(read)
    assert info.value.status == 408
    assert 3.0 < time.monotonic() - started < 6
    assert len(sent) < len(body)
    assert not list(tmp_path.iterdir())


def test_a_readme_too_costly_to_render_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    from support.builders import metadata_text
    from support.builders import readme_text as _text

    with Index.open(replace(settings, description_render_seconds=1)) as index:
        body = _text(600_000, rst=True)
        metadata = metadata_text("demo", "1.0") + "\n" + body
        r = index.upload(wheel_bytes("demo", "1.0", metadata=metadata), wheel_name("demo", "1.0"))
        assert r.status_code == 400
        assert r.text.startswith("The description failed to render for 'text/x-rst' within 1 ")
        _nothing_left(index)
        # The same README as Markdown renders in time.
        metadata = (
            metadata_text("demo", "1.0", extra="Description-Content-Type: text/markdown\n")
            + "\n"
            + _text(600_000, rst=False)
        )
        ok = index.upload(wheel_bytes("demo", "1.0", metadata=metadata), wheel_name("demo", "1.0"))
        assert ok.status_code == 200, ok.text
