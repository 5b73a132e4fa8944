"""How `stockade serve` meets the network: proxy headers where an address is recorded, and
no Server header naming the software, on the installers' paths and on the pages."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx

from e2e.conftest import LiveServer, stockade_serve


def test_no_server_header_anywhere(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as http:
        for path in ("/simple/", "/", "/account/login/", "/packages/aa/bb/cc/x.whl"):
            r = http.get(path)
            assert "server" not in r.headers, (path, r.headers.get("server"))


def test_forwarded_address_is_recorded_from_a_trusted_proxy(live: LiveServer) -> None:
    # The live server runs on 127.0.0.1, the default trusted proxy (FORWARDED_ALLOW_IPS): a
    # proxy in front says who the client was, and the audit log records that address.
    forwarded = "203.0.113.77"
    with httpx.Client(base_url=live.url) as http:
        page = http.get("/account/login/")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        r = http.post(
            "/account/login/",
            data={"username": "alice", "password": "not her password", "csrf_token": token[1]},
            headers={"X-Forwarded-For": forwarded},
        )
        assert r.status_code == 400
    listed = json.loads(live.stockade("events", "list", "--user", "alice", "--json"))
    failures = [e for e in listed if e["tag"] == "account:login:failure"]
    assert failures and failures[0]["ip_address"] == forwarded


def test_start_line_is_one_line_with_the_whole_data_path(tmp_path: Path) -> None:
    # A deep data folder, a narrow terminal: the path must still be one piece, to copy.
    data = tmp_path / "a-rather-long-folder-name-for-the-index" / "and-another-one" / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update(COLUMNS="80", STOCKADE_SCHEDULER="false")
    log = tmp_path / "serve.log"
    with stockade_serve(data, env, log, "--workers", "1"):
        lines = log.read_text().splitlines()
    start = [line for line in lines if line.startswith("stockade serving")]
    assert len(start) == 1, lines
    assert f"(data: {data.resolve()}, workers: 1)" in start[0]
    assert any(
        line == f"wrote default settings to {data.resolve() / 'stockade.toml'}" for line in lines
    )
