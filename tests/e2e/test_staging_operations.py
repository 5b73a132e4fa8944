"""Staged releases in operation, against a real `stockade serve` on this run's backend: an open
session's staged files survive a backup and restore (the session goes on and publishes), and
a release published through one of two workers is on the pages of both."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from e2e.conftest import LiveServer
from e2e.conftest import upload_wheel as upload
from e2e.test_soak import load_soak
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name

V2 = "application/vnd.pypi.upload.v2+json"
META = {"api-version": "2.0"}
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


class Pep694:
    """The few Upload 2.0 requests these tests make, over one connection or fresh ones."""

    def __init__(self, client: httpx.Client, token: str) -> None:
        self.client, self.auth = client, ("__token__", token)

    def post(self, url: str, body: dict[str, Any]) -> httpx.Response:
        return self.client.post(
            url, json={"meta": META, **body}, headers={"Content-Type": V2}, auth=self.auth
        )

    def stage(self, base: str, name: str, version: str, files: dict[str, bytes]) -> dict[str, Any]:
        created = self.post(f"{base}/upload/", {"name": name, "version": version})
        assert created.status_code == 201, created.text
        session: dict[str, Any] = created.json()
        for filename, data in files.items():
            declared = self.post(
                session["links"]["upload"],
                {
                    "filename": filename,
                    "size": len(data),
                    "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                    "mechanism": "http-post-bytes",
                },
            )
            assert declared.status_code == 202, declared.text
            upload = declared.json()
            sent = self.client.post(
                upload["mechanism"]["file_url"],
                content=data,
                headers={"Content-Type": "application/octet-stream"},
                auth=self.auth,
            )
            assert sent.status_code == 204, sent.text
            assert self.post(upload["links"]["complete"], {}).status_code == 201
        return session


def test_an_open_session_survives_backup_and_restore(make_instance: object, tmp_path: Path) -> None:
    source = make_instance("src")  # type: ignore[operator]
    source.stockade("db", "migrate")  # creates the data folder
    token = source.token()
    staged = {wheel_name("demo", "2.0"): wheel_bytes("demo", "2.0")}
    backup = tmp_path / "backup"
    with source.serve() as url, httpx.Client(timeout=30) as client:
        assert upload(url, token, "demo", "1.0") == 200
        session = Pep694(client, token).stage(url, "demo", "2.0", staged)
        source.stockade("admin", "backup", str(backup))
    manifest = json.loads((backup / "manifest.json").read_text())
    digest = hashlib.sha256(staged[wheel_name("demo", "2.0")]).hexdigest()
    assert any(digest in str(blob) for blob in manifest["blobs"]), manifest["blobs"]

    target = make_instance("dst")  # type: ignore[operator]
    target.stockade("admin", "restore", str(backup))
    assert '"ok": true' in target.stockade("admin", "fsck", "--json")
    with target.serve() as url, httpx.Client(timeout=30) as client:
        # The session's addresses carry the old base URL's path: the same under this one.
        def here(link: str) -> str:
            return url + urlsplit(link).path

        status = client.get(here(session["links"]["session"]), auth=("__token__", token))
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "open"
        assert set(status.json()["files"]) == set(staged)
        # The preview still serves the staged bytes.
        stage = here(session["links"]["stage"])
        page = client.get(f"{stage}demo/", headers={"Accept": SIMPLE_JSON}).json()
        entry = next(f for f in page["files"] if f["filename"] in staged)
        got = client.get(httpx.URL(f"{stage}demo/").join(entry["url"]), follow_redirects=True)
        assert got.status_code == 200 and got.content == staged[entry["filename"]]
        published = Pep694(client, token).post(here(session["links"]["publish"]), {})
        assert published.status_code == 201, published.text
        public = client.get(f"{url}/simple/demo/", headers={"Accept": SIMPLE_JSON}).json()
        assert set(staged) <= {f["filename"] for f in public["files"]}


def _page_by_worker(port: int, name: str, workers: list[int]) -> tuple[int | None, set[str]]:
    """The project's page over a new connection, and the worker that answered it."""
    soak = load_soak()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.connect()
        assert conn.sock is not None
        owner = soak.connection_owner(port, conn.sock.getsockname()[1], workers)
        conn.request("GET", f"/simple/{name}/", headers={"Accept": SIMPLE_JSON})
        response = conn.getresponse()
        body = response.read()
        files = (
            {f["filename"] for f in json.loads(body)["files"]} if response.status == 200 else set()
        )
        return owner, files
    finally:
        conn.close()


def _seen_by_both(port: int, name: str, workers: list[int], wanted: set[str]) -> bool:
    """Whether new connections, to whichever worker the kernel picks, until both answered, all
    got pages with exactly ``wanted`` among their files' (False if any did not)."""
    answered: set[int] = set()
    for _ in range(200):
        owner, files = _page_by_worker(port, name, workers)
        if owner is None:
            continue
        if not wanted <= files:
            return False
        answered.add(owner)
        if answered == set(workers):
            return True
    raise AssertionError(f"only workers {answered} of {workers} answered in 200 connections")


def test_a_release_published_through_one_worker_is_on_both(live: LiveServer) -> None:
    soak = load_soak()
    port = urlsplit(live.url).port
    assert port is not None
    workers = soak.worker_pids(port)
    assert len(workers) == 2, workers
    name = "two-workers"
    assert upload(live.url, live.token, name, "1.0") == 200
    release = {
        wheel_name(name, "2.0"): wheel_bytes(name, "2.0"),
        sdist_name(name, "2.0"): sdist_bytes(name, "2.0"),
    }
    # Both workers have served (and cached) the page without the release.
    assert _seen_by_both(port, name, workers, {wheel_name(name, "1.0")})
    assert all(f not in _page_by_worker(port, name, workers)[1] for f in release)

    # Staged and published over one keep-alive connection: one worker does all of it.
    with httpx.Client(timeout=30) as client:
        session = Pep694(client, live.token).stage(live.url, name, "2.0", release)
        published = Pep694(client, live.token).post(session["links"]["publish"], {})
        assert published.status_code == 201, published.text
    # The other worker follows the change feed: within its poll interval, both serve it.
    start = time.monotonic()
    while not _seen_by_both(port, name, workers, set(release)):
        assert time.monotonic() - start < 5, "a worker still serves the page without the release"
        time.sleep(0.1)
