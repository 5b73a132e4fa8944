"""Policy views, continued: the "no known vulnerability" rule, the JSON API under a view, the
view's file URLs serving only what the view lets through, trusted publishing and maintainers'
2FA, and a view over a name the mirror serves from upstream."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from stockade.accounts.twofactor.models import TotpSecret
from stockade.db.base import utcnow
from stockade.events.services import CLI
from stockade.index.models import File, Project
from stockade.index.paths import file_path
from stockade.lifecycle.deletion import delete_release
from stockade.mirror.services import add_upstream
from stockade.mirror.views import UNCHECKED, create_view
from stockade.oidc.publishers import GitHubPublisherSpec
from stockade.oidc.services import add_publisher
from support.advisories import affecting, osv, write
from support.builders import wheel_bytes, wheel_name
from support.index import Index, run_cli
from support.mirror_upstream import StaticUpstream

JSON = "application/vnd.pypi.simple.v1+json"
WARNING = "x-stockade-view-warning"


def _upload(index: Index, name: str, version: str, user: str = "alice") -> None:
    response = index.upload(
        wheel_bytes(name, version), wheel_name(name, version), token=index.token(user)
    )
    assert response.status_code == 200, response.text


def _page(index: Index, path: str) -> httpx.Response:
    response = index.client.get(path, headers={"accept": JSON})
    assert response.status_code == 200, response.text
    return response


def _files(index: Index, path: str) -> list[str]:
    return [f["filename"] for f in _page(index, path).json()["files"]]


def _url(index: Index, name: str, filename: str) -> str:
    """The public page's link to ``filename``, as a path from the root (/packages/…)."""
    for f in _page(index, f"/simple/{name}/").json()["files"]:
        if f["filename"] == filename:
            return file_path(f["hashes"]["sha256"], filename)
    raise AssertionError(f"{filename} not on /simple/{name}/")


def _wait(check: Callable[[], bool], seconds: float = 15.0) -> None:
    """Until ``check()`` holds (views and the advisories' stamp are read every 5 s)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.2)


def _import(index: Index, folder: Path, *docs: dict[str, Any]) -> None:
    proc = run_cli(index, "advisories", "import", str(write(folder, *docs)))
    assert proc.returncode == 0, proc.stderr


def test_no_known_vulns_leaves_out_what_an_advisory_affects(index: Index, tmp_path: Path) -> None:
    for version in ("1.0", "1.5", "2.5"):
        _upload(index, "demo", version)
    created = run_cli(index, "view", "create", "clean", "--no-known-vulns")
    assert created.returncode == 0, created.stderr
    # No advisory was ever imported: nothing is known, and the view says so everywhere.
    assert UNCHECKED in created.stderr
    page = _page(index, "/views/clean/simple/demo/")
    assert [f["filename"] for f in page.json()["files"]] == [
        wheel_name("demo", v) for v in ("1.0", "1.5", "2.5")
    ]
    assert page.headers[WARNING] == UNCHECKED
    assert _page(index, "/views/clean/simple/").headers[WARNING] == UNCHECKED
    [row] = json.loads(run_cli(index, "view", "list", "--json").stdout)
    assert row["no_known_vulns"] is True and row["unchecked"] is True
    assert UNCHECKED in row["rules"]
    assert UNCHECKED in run_cli(index, "view", "list").stdout
    old = _url(index, "demo", wheel_name("demo", "1.0"))
    assert index.client.get("/views/clean" + old).status_code == 200

    # An advisory for demo < 2.0: the view's page drops 1.0 and 1.5 without any change to demo.
    _import(index, tmp_path / "a", osv("PYSEC-2024-1", "demo"))
    _wait(lambda: _files(index, "/views/clean/simple/demo/") == [wheel_name("demo", "2.5")])
    assert WARNING not in _page(index, "/views/clean/simple/demo/").headers
    [row] = json.loads(run_cli(index, "view", "list", "--json").stdout)
    assert row["unchecked"] is False and UNCHECKED not in row["rules"]
    # Their files are gone from the view (the public URL still serves them).
    assert index.client.get("/views/clean" + old).status_code == 404
    assert index.client.get("/views/clean" + old + ".metadata").status_code == 404
    assert index.client.get(old).status_code == 200
    # The JSON API under the view: only 2.5, its vulnerabilities (none) known.
    doc = index.client.get("/views/clean/pypi/demo/json").json()
    assert list(doc["releases"]) == ["2.5"] and doc["info"]["version"] == "2.5"
    assert doc["vulnerabilities"] == []
    assert index.client.get("/views/clean/pypi/demo/1.5/json").status_code == 404
    assert index.client.get("/pypi/demo/1.5/json").json()["vulnerabilities"][0]["id"] == (
        "PYSEC-2024-1"
    )
    # Now 2.5 too: nothing of demo passes.
    _import(index, tmp_path / "b", affecting("GHSA-2222-3333-4444", "demo", "2.5"))
    _wait(lambda: _files(index, "/views/clean/simple/demo/") == [])
    assert index.client.get("/views/clean/pypi/demo/json").status_code == 404
    # The public index is unchanged.
    assert len(_files(index, "/simple/demo/")) == 3


def test_the_json_api_under_a_view(index: Index) -> None:
    for version in ("1.0", "2.0", "3.0"):
        _upload(index, "demo", version)
    _upload(index, "other", "1.0")
    with index.db.write() as s:
        create_view(s, "safe", deny=["demo>=3", "other"], origin=CLI, actor_id=None)
    doc = index.client.get("/views/safe/pypi/demo/json")
    assert doc.status_code == 200
    body = doc.json()
    assert list(body["releases"]) == ["1.0", "2.0"]
    assert body["info"]["version"] == "2.0"
    assert [u["filename"] for u in body["urls"]] == [wheel_name("demo", "2.0")]
    every = [u for files in body["releases"].values() for u in files] + body["urls"]
    assert all(u["url"].startswith("http://testserver/views/safe/packages/") for u in every)
    # What the JSON API links is what the view serves.
    url = body["urls"][0]["url"].removeprefix("http://testserver")
    download = index.client.get(url)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == body["urls"][0]["digests"]["sha256"]
    # One release; a version the view leaves out is not there.
    release = index.client.get("/views/safe/pypi/demo/1.0/json").json()
    assert [u["filename"] for u in release["urls"]] == [wheel_name("demo", "1.0")]
    assert release["urls"][0]["url"].startswith("http://testserver/views/safe/packages/")
    assert index.client.get("/views/safe/pypi/demo/3.0/json").status_code == 404
    assert index.client.get("/views/safe/pypi/other/json").status_code == 404
    assert index.client.get("/views/safe/pypi/other/1.0/json").status_code == 404
    assert index.client.get("/views/safe/pypi/missing/json").status_code == 404
    assert index.client.get("/views/nope/pypi/demo/json").status_code == 404
    moved = index.client.get("/views/safe/pypi/Demo/json", follow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["location"] == "/views/safe/pypi/demo/json"
    moved = index.client.get("/views/safe/pypi/Demo/2.0/json", follow_redirects=False)
    assert moved.headers["location"] == "/views/safe/pypi/demo/2.0/json"
    # The public document is whole.
    assert list(index.client.get("/pypi/demo/json").json()["releases"]) == ["1.0", "2.0", "3.0"]


def test_a_view_serves_only_its_own_files(index: Index) -> None:
    for version in ("1.0", "3.0"):
        _upload(index, "demo", version)
    _upload(index, "other", "1.0")
    with index.db.write() as s:
        create_view(s, "safe", deny=["demo>=3", "other"], origin=CLI, actor_id=None)
    allowed = _url(index, "demo", wheel_name("demo", "1.0"))
    denied = _url(index, "demo", wheel_name("demo", "3.0"))
    other = _url(index, "other", wheel_name("other", "1.0"))
    # Before and after the view's page was rendered in this worker.
    for _ in range(2):
        assert index.client.get("/views/safe" + allowed).status_code == 200
        assert index.client.get("/views/safe" + allowed + ".metadata").status_code == 200
        assert index.client.head("/views/safe" + allowed).status_code == 200
        for path in (denied, denied + ".metadata", other):
            response = index.client.get("/views/safe" + path)
            assert response.status_code == 404, path
            assert response.content == b"Not Found: not in this view"
        _page(index, "/views/safe/simple/demo/")
    # Guessed and malformed URLs.
    for path in (
        "/views/nope" + allowed,
        "/views/safe/packages/",
        "/views/safe/packages/aa/bb/cc/nothing-1.0-py3-none-any.whl",
        "/views/safe" + allowed.replace(allowed.split("/")[2], "00"),
        "/views/safe/elsewhere/",
    ):
        assert index.client.get(path).status_code == 404, path
    assert index.client.post("/views/safe" + allowed).status_code == 405
    # Provenance, linked relative to a page when base_url is not set, is the index's own.
    provenance = f"/integrity/demo/1.0/{wheel_name('demo', '1.0')}/provenance"
    moved = index.client.get("/views/safe" + provenance, follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == provenance
    # The view replaced without its deny list: 3.0 is served once workers read views again.
    with index.db.write() as s:
        create_view(s, "safe", origin=CLI, actor_id=None)
    _wait(lambda: index.client.get("/views/safe" + denied).status_code == 200)
    # A release deleted from the project is gone from the view too (through the journal).
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None
        delete_release(s, project, "1.0", origin=CLI, actor_id=None, admin=True)
    _wait(lambda: index.client.get("/views/safe" + allowed).status_code == 404)
    assert index.client.get("/views/safe/pypi/demo/1.0/json").status_code == 404


def test_trusted_publishing_only_and_maintainers_with_2fa(index: Index) -> None:
    _upload(index, "tp", "1.0")
    _upload(index, "tp", "2.0")
    _upload(index, "loose", "1.0", user="bob")
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "tp"))
        assert project is not None
        spec = GitHubPublisherSpec(owner="acme", owner_id="42", repository="tp", workflow="r.yml")
        publisher = add_publisher(s, project, spec, origin=CLI, actor_id=None)
        s.execute(
            update(File)
            .where(File.filename == wheel_name("tp", "2.0"))
            .values(publisher_id=publisher)
        )
        # alice has a confirmed authenticator app; bob has none.
        s.add(TotpSecret(user_id=index.user("alice").id, secret="A" * 32, confirmed_at=utcnow()))
    out = run_cli(index, "view", "create", "ci", "--trusted-publishing-only")
    assert out.returncode == 0, out.stderr
    out = run_cli(index, "view", "create", "careful", "--maintainers-2fa")
    assert out.returncode == 0, out.stderr
    assert _files(index, "/views/ci/simple/tp/") == [wheel_name("tp", "2.0")]
    assert index.client.get("/views/ci/pypi/tp/1.0/json").status_code == 404
    sent = _url(index, "tp", wheel_name("tp", "1.0"))
    assert index.client.get("/views/ci" + sent).status_code == 404
    assert _files(index, "/views/careful/simple/tp/") == [
        wheel_name("tp", "1.0"),
        wheel_name("tp", "2.0"),
    ]
    assert _files(index, "/views/careful/simple/loose/") == []
    root = _page(index, "/views/careful/simple/").json()
    assert [p["name"] for p in root["projects"]] == ["tp"]
    rows = {r["name"]: r for r in json.loads(run_cli(index, "view", "list", "--json").stdout)}
    assert rows["ci"]["trusted_publishing_only"] and rows["careful"]["maintainers_2fa"]
    assert rows["ci"]["rules"] == "files sent by trusted publishing only"


def test_a_view_resolves_an_upstream_name_on_first_request(index: Index, tmp_path: Path) -> None:
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    files = [(wheel_name("upone", v), wheel_bytes("upone", v)) for v in ("1.0", "2.0")]
    with StaticUpstream.start(tmp_path / "up") as up:
        up.add_project("upone", files, upload_time=old)
        with index.db.write() as s:
            add_upstream(s, "pypi", up.url, origin=CLI, actor_id=None)
            create_view(s, "stable", deny=["upone>=2"], origin=CLI, actor_id=None)
        # Never asked through /simple/: the view fetches the page from upstream.
        page = _page(index, "/views/stable/simple/upone/").json()
        assert [f["filename"] for f in page["files"]] == [wheel_name("upone", "1.0")]
        sha = {f["filename"]: f["hashes"]["sha256"] for f in page["files"]}
        first = index.client.get(
            "/views/stable" + file_path(sha[wheel_name("upone", "1.0")], wheel_name("upone", "1.0"))
        )
        assert first.status_code == 200 and first.content == files[0][1]
        newer = _url(index, "upone", wheel_name("upone", "2.0"))
        assert index.client.get("/views/stable" + newer).status_code == 404
        assert up.gets(wheel_name("upone", "2.0")) == 0
        doc = index.client.get("/views/stable/pypi/upone/json").json()
        assert list(doc["releases"]) == ["1.0"]
