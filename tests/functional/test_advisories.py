"""Known vulnerabilities: importing advisories (the corpus, updates, withdrawals, aliases),
serving them (OSV API, PyPI's JSON API, pages), telling owners, refusing uploads."""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.policy
import functools
import json
import threading
import zipfile
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from stockade.advisories.importer import ImportResult, import_documents
from stockade.advisories.job import ADVISORIES_JOB
from stockade.advisories.models import Advisory, AdvisoryRecord
from stockade.advisories.notices import NoticeOutbox
from stockade.advisories.sources import open_sources
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.jobs.interface import JobContext
from stockade.mail import mailer_from_settings
from support.advisories import osv, write
from support.backend import CORPUS
from support.builders import wheel_bytes, wheel_name
from support.index import Index, login_client, run_cli
from support.threads import run_threads

ADVISORIES = CORPUS / "advisories"


def import_(index: Index, *paths: Path | str) -> str:
    proc = run_cli(index, "advisories", "import", *map(str, paths))
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def counts(index: Index) -> tuple[int, int]:
    with index.db.read() as s:
        return (
            s.scalar(select(func.count(Advisory.id))) or 0,
            s.scalar(select(func.count(AdvisoryRecord.osv_id))) or 0,
        )


def query(index: Index, body: Any) -> tuple[int, Any]:
    r = index.client.post("/v1/query", content=json.dumps(body))
    return r.status_code, r.json()


def pypi(name: str, version: str) -> dict[str, Any]:
    return {"package": {"name": name, "ecosystem": "PyPI"}, "version": version}


def mail(index: Index) -> list[EmailMessage]:
    folder = index.settings.data_dir / "outbox"
    return (
        [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))
        ]
        if folder.exists()
        else []
    )


def test_corpus_import_is_idempotent_and_served(index: Index) -> None:
    files = sorted(ADVISORIES.rglob("*.yaml"))
    assert len(files) == 210
    out = import_(index, ADVISORIES)
    assert "210 added, 0 updated, 0 unchanged, 1 withdrawn, 0 unreadable" in out
    assert counts(index) == (210, 210)
    with index.db.read() as s:
        before = {r.osv_id: (r.digest, r.imported_at) for r in s.scalars(select(AdvisoryRecord))}
    out = import_(index, ADVISORIES)
    assert "0 added, 0 updated, 210 unchanged" in out
    with index.db.read() as s:
        after = {r.osv_id: (r.digest, r.imported_at) for r in s.scalars(select(AdvisoryRecord))}
    assert after == before

    # lxml before 4.2.5 (PYSEC-2018-12: introduced 0, fixed 4.2.5, and a versions list).
    status, body = query(index, pypi("lxml", "4.2.4"))
    assert status == 200
    assert "PYSEC-2018-12" in [v["id"] for v in body["vulns"]]
    doc = next(v for v in body["vulns"] if v["id"] == "PYSEC-2018-12")
    assert doc["aliases"] == ["CVE-2018-19787", "GHSA-xp26-p53h-6h2p"]
    assert doc["modified"] == "2021-06-16T00:03:23.627691Z"
    status, body = query(index, pypi("LXML", "4.2.5"))
    assert "PYSEC-2018-12" not in [v["id"] for v in body.get("vulns", [])]
    # By package URL, spelled otherwise.
    status, body = query(index, {"package": {"purl": "pkg:pypi/lxml@4.2.4"}})
    assert "PYSEC-2018-12" in [v["id"] for v in body["vulns"]]
    # A version nothing affects: OSV's empty answer.
    assert query(index, pypi("lxml", "99.0")) == (200, {})

    # The one withdrawn corpus advisory (aiohttp, every version) is served by id, never matched.
    r = index.client.get("/v1/vulns/PYSEC-2022-43059")
    assert r.status_code == 200 and r.json()["withdrawn"] == "2023-11-08T00:54:24Z"
    status, body = query(index, pypi("aiohttp", "0.1"))
    assert "PYSEC-2022-43059" not in [v["id"] for v in body.get("vulns", [])]
    # An alias finds the advisory too.
    assert index.client.get("/v1/vulns/GHSA-xp26-p53h-6h2p").json()["id"] == "PYSEC-2018-12"


def test_update_by_modified_withdrawal_and_alias_merge(index: Index, tmp_path: Path) -> None:
    first = osv("PYSEC-2099-1", "demo", aliases=["CVE-2099-1"])
    import_(index, write(tmp_path / "a", first))
    # An older copy changes nothing; a newer one replaces it in place.
    older = osv("PYSEC-2099-1", "demo", modified="2023-01-01T00:00:00Z", summary="old")
    assert "0 added, 0 updated, 1 unchanged" in import_(index, write(tmp_path / "b", older))
    newer = osv(
        "PYSEC-2099-1",
        "demo",
        modified="2024-02-01T00:00:00Z",
        summary="newer",
        aliases=["CVE-2099-1"],
    )
    assert "0 added, 1 updated" in import_(index, write(tmp_path / "c", newer))
    assert index.client.get("/v1/vulns/PYSEC-2099-1").json()["summary"] == "newer"

    # A GHSA record naming the same CVE merges into the PYSEC advisory; its range is added.
    ghsa = osv("GHSA-aaaa-bbbb-cccc", "demo", aliases=["CVE-2099-1"], summary="from GHSA")
    ghsa["affected"][0]["ranges"][0]["events"] = [{"introduced": "3.0"}, {"fixed": "3.1"}]
    import_(index, write(tmp_path / "d", ghsa))
    assert counts(index) == (1, 2)
    doc = index.client.get("/v1/vulns/GHSA-aaaa-bbbb-cccc").json()
    assert doc["id"] == "PYSEC-2099-1" and doc["summary"] == "newer"
    assert doc["aliases"] == ["CVE-2099-1", "GHSA-aaaa-bbbb-cccc"]
    assert [v["id"] for v in query(index, pypi("demo", "3.0"))[1]["vulns"]] == ["PYSEC-2099-1"]
    assert [v["id"] for v in query(index, pypi("demo", "1.0"))[1]["vulns"]] == ["PYSEC-2099-1"]
    assert query(index, pypi("demo", "2.5")) == (200, {})

    # The PYSEC record withdrawn: the GHSA record alone still holds the advisory, now by its id.
    gone = osv(
        "PYSEC-2099-1",
        "demo",
        modified="2024-03-01T00:00:00Z",
        withdrawn="2024-03-01T00:00:00Z",
        aliases=["CVE-2099-1"],
    )
    assert "1 withdrawn" in import_(index, write(tmp_path / "e", gone))
    assert query(index, pypi("demo", "1.0")) == (200, {})
    assert [v["id"] for v in query(index, pypi("demo", "3.0"))[1]["vulns"]] == [
        "GHSA-aaaa-bbbb-cccc"
    ]
    # Both withdrawn: nothing matches, and the advisory says it is withdrawn.
    ghsa_gone = dict(ghsa, modified="2024-03-02T00:00:00Z", withdrawn="2024-03-02T00:00:00Z")
    import_(index, write(tmp_path / "f", ghsa_gone))
    assert query(index, pypi("demo", "3.0")) == (200, {})
    assert index.client.get("/v1/vulns/CVE-2099-1").json()["withdrawn"]


def test_zip_and_unreadable_documents(index: Index, tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("PYSEC-2099-2.json", json.dumps(osv("PYSEC-2099-2", "demo")))
        z.writestr("broken.json", "{")
        z.writestr("README.md", "not an advisory")
    out = import_(index, archive)
    assert "1 added" in out and "1 unreadable" in out and "broken.json" in out
    # A clone of the advisory database: its hidden folders hold workflows, not advisories.
    clone = write(tmp_path / "clone" / "vulns" / "demo", osv("PYSEC-2099-9", "demo"))
    (tmp_path / "clone" / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "clone" / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    out = import_(index, clone.parent.parent)
    assert "1 added" in out and "0 unreadable" in out
    proc = run_cli(index, "advisories", "import", str(tmp_path / "missing"))
    assert proc.returncode == 1 and "no such file or folder" in proc.stderr


def test_osv_api_errors_and_batches(index: Index, tmp_path: Path) -> None:
    import_(index, write(tmp_path, osv("PYSEC-2099-3", "demo")))
    post = index.client.post
    for body, message in [
        ("{", "Invalid JSON payload received."),
        ("[]", "Invalid query."),
        ('{"version": "1.0"}', "Invalid query."),
        ('{"package": {"name": 5}}', "Invalid query."),
        ('{"package": {"purl": "demo@1.0"}}', "Invalid Package URL."),
    ]:
        r = post("/v1/query", content=body)
        assert (r.status_code, r.json()) == (400, {"code": 3, "message": message})
    r = index.client.get("/v1/vulns/PYSEC-0000-0")
    assert (r.status_code, r.json()) == (404, {"code": 5, "message": "Bug not found."})
    # Another ecosystem: nothing known here.
    assert query(index, {"package": {"name": "demo", "ecosystem": "npm"}, "version": "1.0"}) == (
        200,
        {},
    )
    # A package without a version: every advisory of the package.
    assert [
        v["id"]
        for v in query(index, {"package": {"name": "demo", "ecosystem": "PyPI"}})[1]["vulns"]
    ] == ["PYSEC-2099-3"]

    queries = [pypi("demo", "1.0"), pypi("demo", "2.0"), pypi("other", "1.0")] * 333 + [
        {"package": {"purl": "pkg:pypi/demo@1.5"}}
    ]
    r = post("/v1/querybatch", json={"queries": queries})
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 1000
    assert results[0] == {"vulns": [{"id": "PYSEC-2099-3", "modified": "2024-01-01T00:00:00Z"}]}
    assert results[1] == {} and results[2] == {}
    assert results[999]["vulns"][0]["id"] == "PYSEC-2099-3"
    r = post("/v1/querybatch", json={"queries": [*queries, pypi("demo", "1.0")]})
    assert (r.status_code, r.json()) == (400, {"code": 3, "message": "Too many queries."})
    r = post("/v1/querybatch", json={"queries": [pypi("demo", "1.0"), {"version": "1"}]})
    assert (r.status_code, r.json()) == (400, {"code": 3, "message": "Invalid query."})
    r = post("/v1/querybatch", content=b"x" * (3 * 1024 * 1024))
    assert r.status_code == 413


def test_json_api_pages_and_owner_notices(index: Index, tmp_path: Path) -> None:
    for version in ("1.0", "2.0"):
        assert (
            index.upload(wheel_bytes("demo", version), wheel_name("demo", version)).status_code
            == 200
        )
    # Nothing imported yet: no "vulnerabilities" at all, and no section on the page.
    assert "vulnerabilities" not in index.client.get("/pypi/demo/1.0/json").json()
    assert "Known vulnerabilities" not in index.client.get("/project/demo/1.0/").text

    import_(
        index,
        write(
            tmp_path / "a",
            osv("PYSEC-2099-4", "Demo", aliases=["CVE-2099-4"]),
            osv("PYSEC-2099-5", "nothing-here"),
        ),
    )
    doc = index.client.get("/pypi/demo/1.0/json").json()
    assert doc["vulnerabilities"] == [
        {
            "aliases": ["CVE-2099-4"],
            "details": "Details of PYSEC-2099-4.",
            "fixed_in": ["2.0"],
            "id": "PYSEC-2099-4",
            "link": "https://osv.dev/vulnerability/PYSEC-2099-4",
            "source": "osv",
            "summary": "PYSEC-2099-4 in Demo",
            "withdrawn": None,
        }
    ]
    # The project's document is its latest release's: 2.0 is fixed.
    assert index.client.get("/pypi/demo/json").json()["vulnerabilities"] == []
    assert index.client.get("/pypi/demo/2.0/json").json()["vulnerabilities"] == []

    page = index.client.get("/project/demo/1.0/").text
    assert "1 known vulnerability" in page and "PYSEC-2099-4" in page and "Fixed in" in page
    latest = index.client.get("/project/demo/").text
    assert "Known vulnerabilities in" not in latest
    # The history marks the affected release, and only it.
    assert latest.count("1 known vulnerability") == 1

    # The owner was told once, by mail and in the project's history.
    [message] = mail(index)
    assert message["To"] == "alice@example.test"
    assert "PYSEC-2099-4" in message.get_content() and "1.0" in message.get_content()
    with index.db.read() as s:
        [event] = s.scalars(select(Event).where(Event.tag == "project:advisory")).all()
        assert event.details["advisory"] == "PYSEC-2099-4" and event.details["versions"] == "1.0"
    newer = osv("PYSEC-2099-4", "demo", modified="2025-01-01T00:00:00Z")
    import_(index, write(tmp_path / "b", newer))
    assert len(mail(index)) == 1

    # The administrators' page lists the advisory that names no project here.
    index.user("root", admin=True)
    page = login_client(index, "root").get("/admin/advisories/")
    assert page.status_code == 200
    assert "PYSEC-2099-5" in page.text and "nothing-here" in page.text
    assert "PYSEC-2099-4" not in page.text


def test_uploads_of_vulnerable_versions_refused_when_set(settings: Any, tmp_path: Path) -> None:
    strict = dataclasses.replace(settings, refuse_vulnerable_uploads=True)
    with Index.open(strict) as index:
        assert (
            index.upload(wheel_bytes("demo", "0.5"), wheel_name("demo", "0.5")).status_code == 200
        )
        import_(index, write(tmp_path, osv("PYSEC-2099-6", "demo")))
        r = index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"))
        assert r.status_code == 400
        assert "PYSEC-2099-6" in r.text and "Fixed in: 2.0" in r.text
        assert (
            index.upload(wheel_bytes("demo", "2.0"), wheel_name("demo", "2.0")).status_code == 200
        )


@contextlib.contextmanager
def static_files(folder: Path) -> Iterator[str]:
    """A plain http.server on loopback serving ``folder``: an advisory feed."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_scheduled_import_from_configured_urls(index: Index, tmp_path: Path) -> None:
    settings = index.settings
    ctx = JobContext(settings=settings, db=index.db, mailer=mailer_from_settings(settings))
    assert ADVISORIES_JOB.run(ctx).summary == "no advisory_urls configured: nothing imported"
    assert counts(index) == (0, 0)

    feed = tmp_path / "feed"
    feed.mkdir()
    with zipfile.ZipFile(feed / "all.zip", "w") as z:
        for n in (7, 8):
            z.writestr(f"PYSEC-2099-{n}.json", json.dumps(osv(f"PYSEC-2099-{n}", "demo")))
    with static_files(feed) as url:
        configured = dataclasses.replace(
            settings, advisory_urls=f"{url}/all.zip, {url}/missing.zip"
        )
        ctx = dataclasses.replace(ctx, settings=configured)
        summary = ADVISORIES_JOB.run(ctx).summary
        assert f"{url}/all.zip: 2 added" in summary
        assert f"{url}/missing.zip: {url}/missing.zip: HTTP 404" in summary
        assert counts(index) == (2, 2)
        assert f"{url}/all.zip: 0 added, 0 updated, 2 unchanged" in ADVISORIES_JOB.run(ctx).summary
        # The command takes the same URLs.
        assert "2 unchanged" in import_(index, f"{url}/all.zip")


def test_two_imports_at_once_write_each_record_once(index: Index, tmp_path: Path) -> None:
    folder = write(tmp_path, *(osv(f"PYSEC-2099-{1000 + n}", f"pkg{n}") for n in range(300)))

    def run() -> ImportResult:
        outbox = NoticeOutbox(base_url="http://testserver")
        with open_sources([str(folder)]) as documents:
            return import_documents(index.db, documents, origin=CLI, outbox=outbox, batch=100)

    results = run_threads([run, run])
    assert len(results) == 2 and sum(r.added for r in results) == 300
    assert sum(r.unchanged for r in results) == 300
    assert counts(index) == (300, 300)
