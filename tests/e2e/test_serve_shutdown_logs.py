"""`stockade serve` as an operator runs it: JSON logs when asked for, and a SIGTERM that lets an
upload in flight finish (or refuses it before anything is written) and loses no counted
download or metric."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from e2e.conftest import BIN, Instance, run, upload_wheel
from stockade.db import Database
from stockade.stats.models import DownloadCount
from support.builders import wheel_bytes, wheel_name
from support.index import free_port, upload_fields


class Server(Instance):
    """An index on this run's backend and, while started, its `stockade serve --workers 2`."""

    proc: subprocess.Popen[bytes] | None = None
    url = ""

    @property
    def log(self) -> Path:
        return self.data.parent / "serve.log"

    def start(self, *args: str) -> str:
        port = free_port()
        with self.log.open("w") as fh:
            self.proc = subprocess.Popen(
                [str(BIN / "stockade"), "serve", "--data", str(self.data), "--port", str(port),
                 "--workers", "2", *args],
                stdout=fh, stderr=subprocess.STDOUT, env=self.env,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # a loaded machine starts two workers slowly
        while True:
            try:
                if httpx.get(f"{self.url}/_health/ready", timeout=2).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stockade serve did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def server(make_instance: Any) -> Iterator[Server]:
    inst = make_instance("a")
    srv = Server(inst.data, inst.env)
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.proc.kill()
        srv.proc.wait()


# -- JSON logs ------------------------------------------------------------------------------------


def test_json_logs_are_one_object_a_line_with_the_request_fields(server: Server) -> None:
    token = server.token()
    server.env["STOCKADE_ACCESS_LOG"] = "1"
    url = server.start("--log-json")
    assert upload_wheel(url, token, "demo", "1.0") == 200
    assert httpx.get(f"{url}/simple/demo/").status_code == 200
    assert httpx.get(f"{url}/simple/no-such-project/").status_code == 404
    assert httpx.get(f"{url}/pypi/demo/json?x=1").status_code == 200
    assert server.stop() == 0

    lines = [line for line in server.log.read_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        record = json.loads(line)  # every line, the command's own included, is one object
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= record.keys(), line
        records.append(record)
    by_path = {r["path"]: r for r in records if r["logger"] == "stockade.access"}
    simple = by_path["/simple/demo/"]
    assert simple["method"] == "GET" and simple["status"] == 200
    assert isinstance(simple["duration"], float) and 0 <= simple["duration"] < 30
    assert simple["client"].startswith("127.0.0.1:")
    assert simple["time"].endswith("+00:00")
    assert by_path["/simple/no-such-project/"]["status"] == 404
    assert by_path["/pypi/demo/json?x=1"]["status"] == 200
    assert by_path["/legacy/"]["method"] == "POST" and by_path["/legacy/"]["status"] == 200
    # The command's own lines, uvicorn's and the app's are JSON too.
    loggers = {r["logger"] for r in records}
    assert {"stockade.serve", "uvicorn.error", "stockade.web.app"} <= loggers, loggers
    # Nothing in the usual text form got through.
    assert not any("INFO:" in line or line.startswith("stockade serving") for line in lines)


def test_text_logs_stay_the_default(server: Server) -> None:
    server.env["STOCKADE_ACCESS_LOG"] = "1"
    url = server.start()
    assert httpx.get(f"{url}/simple/").status_code == 200
    assert server.stop() == 0
    text = server.log.read_text()
    assert '"GET /simple/ HTTP/1.1" 200' in text
    assert not any(line.startswith("{") for line in text.splitlines())


def test_an_unknown_log_format_is_refused(server: Server) -> None:
    server.env["STOCKADE_LOG_FORMAT"] = "xml"
    proc = run(
        [str(BIN / "stockade"), "serve", "--data", str(server.data)], env=server.env, check=False
    )
    assert proc.returncode == 2
    assert "log_format must be text or json" in proc.stdout + proc.stderr


# -- graceful shutdown ----------------------------------------------------------------------------


def multipart_request(url: str, token: str, content: bytes, filename: str) -> tuple[bytes, bytes]:
    """The head and the body of a legacy upload, as bytes to trickle down a socket."""
    request = httpx.Request(
        "POST",
        f"{url}/legacy/",
        data=upload_fields(content, filename),
        files={"content": (filename, content, "application/octet-stream")},
        headers={"Authorization": httpx.BasicAuth("__token__", token)._auth_header},
    )
    body = request.read()
    head = ["POST /legacy/ HTTP/1.1", f"Host: {request.url.netloc.decode()}"]
    head += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() != "host"]
    return ("\r\n".join(head) + "\r\n\r\n").encode(), body


def read_response(sock: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        out += chunk
        if b"\r\n\r\n" in out:
            head, _, rest = out.partition(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                length = line.lower().startswith(b"content-length:")
                if length and len(rest) >= int(line.split(b":")[1]):
                    return out
    return out


def download_count(server: Server) -> int:
    db = Database(
        server.env.get("STOCKADE_DATABASE_URL") or f"sqlite:///{server.data}/stockade.sqlite3"
    )
    try:
        with db.read() as session:
            return int(session.scalar(select(func.coalesce(func.sum(DownloadCount.count), 0))) or 0)
    finally:
        db.dispose()


def requests_counted(server: Server, group: str) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(server.data / "metrics"))  # type: ignore[no-untyped-call]
    total = 0.0
    for metric in registry.collect():
        if metric.name == "stockade_http_requests":
            total += sum(
                s.value for s in metric.samples
                if s.name.endswith("_total") and s.labels.get("group") == group
            )  # fmt: skip
    return total


@pytest.mark.parametrize("trickle_seconds", [2.0, 36.0])
def test_sigterm_lets_an_upload_in_flight_finish_and_flushes_the_counters(
    server: Server, trickle_seconds: float
) -> None:
    """SIGTERM while an upload's body is still arriving: the upload lands whole (it ends within
    the grace period) or is refused with nothing written (it does not); downloads counted
    before the signal are in the database and the metrics after the stop."""
    token = server.token()
    # Downloads reach the database only at shutdown: no periodic flush during the test.
    server.env["STOCKADE_DOWNLOAD_FLUSH_INTERVAL"] = "3600"
    url = server.start()
    assert upload_wheel(url, token, "demo", "1.0") == 200
    file_url = httpx.get(f"{url}/pypi/demo/json").json()["urls"][0]["url"]
    downloads = 12
    with httpx.Client() as client:
        for _ in range(downloads):
            assert client.get(file_url).status_code == 200
    assert download_count(server) == 0

    content = wheel_bytes("slow", "1.0", files={"slow/data.bin": os.urandom(300_000)})
    head, body = multipart_request(url, token, content, wheel_name("slow", "1.0"))
    sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=90)
    sock.sendall(head + body[: len(body) // 4])
    time.sleep(0.5)  # the worker is reading the body
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    rest = body[len(body) // 4 :]
    pieces = 20
    step = -(-len(rest) // pieces)
    try:
        for i in range(pieces):
            sock.sendall(rest[i * step : (i + 1) * step])
            time.sleep(trickle_seconds / pieces)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the worker gave up on the upload: it must have left nothing
    answer = read_response(sock)
    sock.close()
    assert server.proc.wait(timeout=90) == 0, server.log.read_text()

    landed = answer.startswith(b"HTTP/1.1 200")
    # A body that arrives within the grace period lands; one that cannot (the trickle outlasts
    # the 30 s) is cancelled.
    assert landed == (trickle_seconds < 30), answer[:500]
    # The downloads counted before the signal were written at shutdown, and counted in the
    # metrics (flushed at shutdown too).
    assert download_count(server) == downloads
    assert requests_counted(server, "files") == downloads

    # Nothing half-written: fsck is clean, and the upload is all there or not at all.
    fsck = run([str(BIN / "stockade"), "admin", "fsck", "--data", str(server.data)],
               env=server.env, check=False)  # fmt: skip
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    url = server.start()
    page = httpx.get(f"{url}/simple/slow/")
    if landed:
        assert page.status_code == 200
        served = httpx.get(f"{url}/pypi/slow/json").json()["urls"][0]["url"]
        assert httpx.get(served).content == content
    else:
        assert page.status_code == 404
    assert not list((server.data / "tmp").glob("*.part"))
    assert server.stop() == 0
