"""The simple API: PEP 503 / 691 / 592 / 658 / 714 / 700 / 792 on real uploads."""

from __future__ import annotations

import hashlib
import io
import re
import time
import zipfile

import httpx
import pytest
from sqlalchemy import select

from stockade.index.models import Project, Release
from stockade.index.state import journal, rerender
from support.builders import metadata_text, sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index
from support.threads import ReportingThread

JSON = "application/vnd.pypi.simple.v1+json"
HTML = "application/vnd.pypi.simple.v1+html"


@pytest.fixture
def demo(index: Index) -> Index:
    meta = metadata_text("Demo", "1.0", extra="Requires-Python: >=3.8\n")
    assert (
        index.upload(
            wheel_bytes("Demo", "1.0", metadata=meta), wheel_name("demo", "1.0")
        ).status_code
        == 200
    )
    assert index.upload(sdist_bytes("demo", "1.0"), sdist_name("demo", "1.0")).status_code == 200
    assert (
        index.upload(wheel_bytes("demo", "2.0rc1"), wheel_name("demo", "2.0rc1")).status_code == 200
    )
    return index


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/html"),
        ("", "text/html"),
        ("*/*", "text/html"),
        ("text/html", "text/html"),
        (JSON, JSON),
        (HTML, HTML),
        ("application/vnd.pypi.simple.latest+json", JSON),
        (f"{JSON}, {HTML};q=0.1, text/html;q=0.01", JSON),
        (f"{JSON};q=0.2, text/html", "text/html"),
        (f"{JSON};q=0, text/html;q=0.5", "text/html"),
        ("application/x-unknown", "text/html"),
        ("image/png;q=1", "text/html"),
    ],
)
def test_content_negotiation(demo: Index, accept: str | None, expected: str) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    r = demo.client.get("/simple/demo/", headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == expected
    assert r.headers["vary"] == "Accept"


def test_format_query_parameter(demo: Index) -> None:
    r = demo.client.get(f"/simple/demo/?format={JSON}")
    assert r.headers["content-type"] == JSON


def test_json_page(demo: Index) -> None:
    r = demo.client.get("/simple/demo/", headers={"Accept": JSON})
    doc = r.json()
    assert doc["meta"]["api-version"] == "1.5"
    assert doc["name"] == "demo"
    assert doc["versions"] == ["1.0", "2.0rc1"]
    assert doc["project-status"] == {"status": "active"}
    assert int(r.headers["x-pypi-last-serial"]) == doc["meta"]["_last-serial"]
    files = {f["filename"]: f for f in doc["files"]}
    assert set(files) == {
        "demo-1.0-py3-none-any.whl",
        "demo-1.0.tar.gz",
        "demo-2.0rc1-py3-none-any.whl",
    }
    whl = files["demo-1.0-py3-none-any.whl"]
    assert whl["requires-python"] == ">=3.8"
    assert whl["yanked"] is False
    assert whl["provenance"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", whl["upload-time"])
    assert whl["core-metadata"] == whl["data-dist-info-metadata"]
    assert set(whl["core-metadata"]) == {"sha256"}
    assert files["demo-1.0.tar.gz"]["core-metadata"] is False
    # Every URL resolves to the bytes its hash names, and the sidecar to its hash.
    base = "http://testserver/simple/demo/"
    for f in doc["files"]:
        url = httpx.URL(base).join(f["url"])
        body = demo.client.get(str(url)).content
        assert hashlib.sha256(body).hexdigest() == f["hashes"]["sha256"]
        assert len(body) == f["size"]
        if f["core-metadata"]:
            meta = demo.client.get(str(url) + ".metadata").content
            assert hashlib.sha256(meta).hexdigest() == f["core-metadata"]["sha256"]
            with zipfile.ZipFile(io.BytesIO(body)) as zf:
                name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
                assert zf.read(name) == meta


def test_html_page(demo: Index) -> None:
    body = demo.client.get("/simple/demo/").text
    assert '<meta name="pypi:repository-version" content="1.5">' in body
    links = re.findall(r"<a ([^>]*)>([^<]*)</a>", body)
    assert {text for _, text in links} == {
        "demo-1.0-py3-none-any.whl",
        "demo-1.0.tar.gz",
        "demo-2.0rc1-py3-none-any.whl",
    }
    whl = next(a for a, t in links if t == "demo-1.0-py3-none-any.whl")
    assert 'data-requires-python="&gt;=3.8"' in whl
    assert re.search(r'data-core-metadata="sha256=[0-9a-f]{64}"', whl)
    assert re.search(r'data-dist-info-metadata="sha256=[0-9a-f]{64}"', whl)
    assert re.search(r'href="\.\./\.\./packages/[^"]+#sha256=[0-9a-f]{64}"', whl)


def test_root_index(demo: Index) -> None:
    html = demo.client.get("/simple/").text
    assert '<a href="demo/">Demo</a>' in html
    doc = demo.client.get("/simple/", headers={"Accept": JSON}).json()
    serial = int(demo.client.get("/simple/demo/").headers["x-pypi-last-serial"])
    assert doc["projects"] == [{"name": "Demo", "_last-serial": serial}]
    assert doc["meta"]["api-version"] == "1.5"


def test_redirects_to_normalized_name(demo: Index) -> None:
    for path in ("/simple/Demo/", "/simple/DEMO/", "/simple/demo"):
        r = demo.client.get(path, follow_redirects=False)
        assert r.status_code == 301
        assert r.headers["location"] == "/simple/demo/"


def test_unknown_project_is_404(demo: Index) -> None:
    assert demo.client.get("/simple/nope/").status_code == 404


def test_etag_and_304(demo: Index) -> None:
    r = demo.client.get("/simple/demo/", headers={"Accept": JSON})
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    r2 = demo.client.get("/simple/demo/", headers={"Accept": JSON, "If-None-Match": etag})
    assert r2.status_code == 304
    assert r2.content == b""
    assert r2.headers["etag"] == etag
    # The HTML representation has its own tag.
    r3 = demo.client.get("/simple/demo/", headers={"If-None-Match": etag})
    assert r3.status_code == 200
    assert r3.headers["etag"] != etag
    assert "max-age" in r.headers["cache-control"]


def test_page_changes_after_upload_and_etag_with_it(demo: Index) -> None:
    first = demo.client.get("/simple/demo/", headers={"Accept": JSON})
    assert demo.upload(wheel_bytes("demo", "3.0"), wheel_name("demo", "3.0")).status_code == 200
    second = demo.client.get("/simple/demo/", headers={"Accept": JSON})
    assert second.json()["versions"][-1] == "3.0"
    assert second.headers["etag"] != first.headers["etag"]
    assert int(second.headers["x-pypi-last-serial"]) > int(first.headers["x-pypi-last-serial"])


def test_yanked_release_is_marked(demo: Index) -> None:
    with demo.db.write() as s:
        project = s.scalar(select(Project))
        assert project is not None
        release = s.scalar(select(Release).where(Release.version == "1.0"))
        assert release is not None
        release.yanked, release.yanked_reason = True, "broken <build>"
        journal(s, project, "yank release", version="1.0", user_id=None)
        rerender(s, project)
    demo.app.context.pages.invalidate("demo")
    doc = demo.client.get("/simple/demo/", headers={"Accept": JSON}).json()
    yanked = {f["filename"]: f["yanked"] for f in doc["files"]}
    assert yanked["demo-1.0-py3-none-any.whl"] == "broken <build>"
    assert yanked["demo-2.0rc1-py3-none-any.whl"] is False
    html = demo.client.get("/simple/demo/").text
    assert 'data-yanked="broken &lt;build&gt;"' in html


def test_quarantined_project_lists_no_files(demo: Index) -> None:
    with demo.db.write() as s:
        project = s.scalar(select(Project))
        assert project is not None
        project.status, project.status_reason = "quarantined", "under review"
        journal(s, project, "quarantine", version=None, user_id=None)
        rerender(s, project)
    demo.app.context.pages.invalidate("demo")
    doc = demo.client.get("/simple/demo/", headers={"Accept": JSON}).json()
    assert doc["files"] == []
    assert doc["project-status"] == {"status": "quarantined", "reason": "under review"}
    html = demo.client.get("/simple/demo/").text
    assert '<meta name="pypi:project-status" content="quarantined">' in html


def test_other_workers_see_changes_within_a_second(demo: Index) -> None:
    """A second app on the same database and storage stands in for another worker."""
    from starlette.testclient import TestClient

    from stockade.web.app import create_app

    other = create_app(demo.settings)
    with TestClient(other) as client:
        before = client.get("/simple/demo/", headers={"Accept": JSON}).json()
        assert "4.0" not in before["versions"]
        assert demo.upload(wheel_bytes("demo", "4.0"), wheel_name("demo", "4.0")).status_code == 200
        deadline = time.monotonic() + 1.5
        while True:
            versions = client.get("/simple/demo/", headers={"Accept": JSON}).json()["versions"]
            if "4.0" in versions or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert "4.0" in versions
        # A project created elsewhere shows up in the root too.
        assert (
            demo.upload(wheel_bytes("newcomer", "1.0"), wheel_name("newcomer", "1.0")).status_code
            == 200
        )
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            names = [
                p["name"]
                for p in client.get("/simple/", headers={"Accept": JSON}).json()["projects"]
            ]
            if "newcomer" in names:
                break
            time.sleep(0.05)
        assert "newcomer" in names
    other.context.db.dispose()


def test_head_and_method_not_allowed(demo: Index) -> None:
    r = demo.client.head("/simple/demo/")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 0
    assert demo.client.post("/simple/demo/").status_code == 405


def test_journal_ids_are_taken_in_commit_order(demo: Index) -> None:
    """PostgreSQL draws journal ids from a sequence: a second writer must wait for the first
    to commit before it takes an id, or a poller could skip an id that commits later."""

    from support.backend import BACKEND

    if BACKEND != "postgres":
        pytest.skip("SQLite serializes writers; the ordering lock is PostgreSQL's")
    pages = demo.app.context.pages
    pages.start_serial()
    done: list[int] = []
    with demo.db.write() as first:
        project = first.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None
        first_id = journal(first, project, "remove file a", version=None, user_id=None)

        def second_writer() -> None:
            with demo.db.write() as second:
                other = second.scalar(select(Project).where(Project.normalized_name == "demo"))
                assert other is not None
                done.append(journal(second, other, "remove file b", version=None, user_id=None))

        thread = ReportingThread(second_writer)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() and not done  # waiting for the first to commit
        # Nothing committed yet: a poller sees nothing and skips nothing.
        assert pages.poll_once() == 0
    thread.result(10)
    assert done and done[0] > first_id
    assert pages.poll_once() == 2
