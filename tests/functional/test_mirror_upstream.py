"""The upstream client against a real HTTP server on loopback: content negotiation, retries
with backoff, conditional requests, 404 as "missing", and pages bounded by the bytes read."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stockade.mirror.upstream import JSON_TYPE, UpstreamClient, UpstreamError

SHA = "c" * 64
PAGE = json.dumps(
    {
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "files": [
            {"filename": "demo-1.0.tar.gz", "url": "demo-1.0.tar.gz", "hashes": {"sha256": SHA}}
        ],
    }
).encode()


class Script:
    """What the server answers, per request, and what it was asked."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.seen: list[dict[str, str]] = []
        self.html = False


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            script.seen.append({k.lower(): v for k, v in self.headers.items()})
            status = script.statuses.pop(0) if script.statuses else 200
            if self.path == "/simple/nope/":
                status = 404
            if status != 200:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.send_header("ETag", '"v1"')
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", '"v1"')
            self.send_header("X-PyPI-Last-Serial", "42")
            if script.html:
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(f'<a href="demo-1.0.tar.gz#sha256={SHA}">x</a>'.encode())
                return
            self.send_header("Content-Type", JSON_TYPE)
            self.end_headers()
            # No Content-Length: the body ends when the connection closes (HTTP/1.0).
            self.wfile.write(PAGE)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/simple/", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def _client(url: str, **kwargs: Any) -> UpstreamClient:
    return UpstreamClient(url, sleep=lambda s: None, timeout=5, **kwargs)


def test_json_is_asked_first_and_validators_are_kept(server: tuple[str, Script]) -> None:
    url, script = server
    with _client(url) as client:
        result = client.fetch_project("demo")
        assert result.outcome == "ok" and result.page is not None
        assert result.page.files[0].url == url + "demo/demo-1.0.tar.gz"
        assert (result.etag, result.serial) == ('"v1"', 42)
        assert script.seen[0]["accept"].startswith(JSON_TYPE)
        # Revalidation: a 304 says nothing changed.
        again = client.fetch_project("demo", etag='"v1"')
        assert again.outcome == "not-modified" and again.page is None
        assert script.seen[1]["if-none-match"] == '"v1"'


def test_an_html_answer_is_accepted(server: tuple[str, Script]) -> None:
    url, script = server
    script.html = True
    with _client(url) as client:
        page = client.fetch_project("demo").page
    assert page is not None and page.files[0].sha256 == SHA


def test_404_means_missing(server: tuple[str, Script]) -> None:
    url, _ = server
    with _client(url) as client:
        assert client.fetch_project("nope").outcome == "missing"


def test_5xx_is_retried_with_backoff_then_given_up(server: tuple[str, Script]) -> None:
    url, script = server
    waits: list[float] = []
    script.statuses = [500, 503]
    with UpstreamClient(url, sleep=waits.append, timeout=5, retries=2, backoff=0.5) as client:
        assert client.fetch_project("demo").outcome == "ok"
    assert waits == [0.5, 1.0]
    script.statuses = [500, 500, 500]
    with (
        UpstreamClient(url, sleep=waits.append, timeout=5, retries=2) as client,
        pytest.raises(UpstreamError, match="HTTP 500"),
    ):
        client.fetch_project("demo")


def test_a_page_is_bounded_by_the_bytes_read(server: tuple[str, Script]) -> None:
    url, _ = server
    with _client(url, max_page_bytes=len(PAGE) + 10) as client:
        assert client.fetch_project("demo").outcome == "ok"
    with (
        _client(url, max_page_bytes=len(PAGE) - 1) as client,
        pytest.raises(UpstreamError, match="larger than"),
    ):
        client.fetch_project("demo")


def test_an_unreachable_upstream_is_an_error(server: tuple[str, Script]) -> None:
    with (
        UpstreamClient(
            "http://127.0.0.1:9/simple/", sleep=lambda s: None, timeout=2, retries=1
        ) as client,
        pytest.raises(UpstreamError, match=r"127\.0\.0\.1:9"),
    ):
        client.fetch_project("demo")
