"""The mirror's pages: fetched from a real upstream on first request, cached, refreshed, and
following upstream's yanks, removals and quarantines; origin rules and the cooldown.

The upstream is a static PEP 691/503 tree served over HTTP on loopback
(``support.mirror_upstream``); the index under test is the in-process app."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from stockade.db.base import utcnow
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import File, FilenameRegistry, Project
from stockade.lifecycle.changes import announce
from stockade.lifecycle.status import set_status
from stockade.mirror import rules
from stockade.mirror.models import (
    FILE_HELD,
    FILE_PUBLISHED,
    FILE_REMOVED,
    MirrorFile,
    MirrorProject,
)
from stockade.mirror.services import Mirror, add_upstream
from stockade.mirror.sync import reconcile_name
from support.builders import wheel_bytes, wheel_name
from support.index import Index, login_client
from support.mirror_upstream import StaticUpstream

JSON = "application/vnd.pypi.simple.v1+json"
OLD = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def up(tmp_path: Any) -> Iterator[StaticUpstream]:
    with StaticUpstream.start(tmp_path / "upstream") as upstream:
        yield upstream


def _add(index: Index, up: StaticUpstream, **kwargs: Any) -> None:
    with index.db.write() as s:
        add_upstream(s, "pypi", up.url, origin=CLI, actor_id=None, **kwargs)


def _project(up: StaticUpstream, name: str, *versions: str, when: dt.datetime = OLD) -> None:
    files = [(wheel_name(name, v), wheel_bytes(name, v)) for v in versions]
    up.add_project(name, files, upload_time=when)


def _page(index: Index, name: str) -> httpx.Response:
    return index.client.get(f"/simple/{name}/", headers={"accept": JSON})


def _filenames(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [f["filename"] for f in response.json()["files"]]


def _mirror(index: Index) -> Mirror:
    pages = index.app.context.pages
    return Mirror(index.db, index.settings, announce=lambda name: announce(pages, name))


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_an_unknown_name_is_fetched_from_upstream_cached_and_served(
    index: Index, up: StaticUpstream
) -> None:
    _add(index, up)
    _project(up, "demo", "1.0", "1.1")
    up.edit_page(
        "demo",
        lambda doc: doc["files"][0].update({"requires-python": ">=3.8"}),
    )
    response = _page(index, "demo")
    assert _filenames(response) == [wheel_name("demo", "1.0"), wheel_name("demo", "1.1")]
    doc = response.json()
    first = doc["files"][0]
    assert first["upload-time"].startswith("2020-01-01T00:00:00")
    assert first["size"] == len(wheel_bytes("demo", "1.0"))
    assert first["requires-python"] == ">=3.8"
    assert doc["versions"] == ["1.0", "1.1"]
    # The HTML form says the same; both come from our cache.
    html = index.client.get("/simple/demo/").text
    assert wheel_name("demo", "1.1") in html and "data-requires-python" in html
    assert up.page_gets("demo") == 1
    # The root lists the cached project beside the local ones.
    root = index.client.get("/simple/", headers={"accept": JSON}).json()
    assert "demo" in [p["name"] for p in root["projects"]]
    # Index rows have no uploader; the files' digests wait for the first download.
    with index.db.read() as s:
        rows = s.scalars(select(File).where(File.filename.like("demo-%"))).all()
        assert {r.uploaded_by_id for r in rows} == {None}
        assert {m.state for m in s.scalars(select(MirrorFile))} == {FILE_PUBLISHED}


def test_a_name_missing_upstream_is_cached_as_missing(index: Index, up: StaticUpstream) -> None:
    _add(index, up, ttl_seconds=600)
    assert _page(index, "nothing-here").status_code == 404
    assert _page(index, "nothing-here").status_code == 404
    assert up.page_gets("nothing-here") == 1


def test_a_local_name_never_shows_upstream_files(index: Index, up: StaticUpstream) -> None:
    # Dependency confusion: "internal" is ours; the upstream has a higher version.
    assert (
        index.upload(wheel_bytes("internal", "1.0"), wheel_name("internal", "1.0")).status_code
        == 200
    )
    _add(index, up)
    _project(up, "internal", "99.0")
    assert _filenames(_page(index, "internal")) == [wheel_name("internal", "1.0")]
    assert up.page_gets("internal") == 0
    # Even a forced refresh leaves a local name alone.
    mirror = _mirror(index)
    assert mirror.refresh("internal", force=True).outcome == "local"
    mirror.close()
    assert up.page_gets("internal") == 0


def test_a_local_upload_to_a_name_cached_from_upstream_is_refused(
    index: Index, up: StaticUpstream
) -> None:
    _add(index, up)
    _project(up, "popular", "1.0")
    assert _filenames(_page(index, "popular")) == [wheel_name("popular", "1.0")]
    response = index.upload(wheel_bytes("popular", "2.0"), wheel_name("popular", "2.0"))
    assert response.status_code == 400
    assert "already mirrored from the upstream index 'pypi'" in response.text
    assert "dependency confusion" in response.text
    assert _filenames(_page(index, "popular")) == [wheel_name("popular", "1.0")]


def test_an_admin_reservation_keeps_a_name_local_before_it_exists(
    index: Index, up: StaticUpstream
) -> None:
    _add(index, up)
    _project(up, "reserved-name", "1.0")
    with index.db.write() as s:
        rules.set_origin(s, "Reserved_Name", "local", upstream_name=None, origin=CLI, actor_id=None)
    assert _page(index, "reserved-name").status_code == 404
    assert up.page_gets("reserved-name") == 0
    with index.db.read() as s:
        event = s.scalar(select(Event).where(Event.tag == "mirror:origin:set"))
        assert event is not None
        assert event.details["summary"] == "reserved-name is served from local uploads only"


def test_the_cooldown_holds_young_files_until_exempted(index: Index, up: StaticUpstream) -> None:
    _add(index, up, cooldown_days=3)
    files = [
        (wheel_name("fresh", "1.0"), wheel_bytes("fresh", "1.0")),
        (wheel_name("fresh", "2.0"), wheel_bytes("fresh", "2.0")),
    ]
    up.add_project("fresh", files, upload_time=OLD)
    now = utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def young(doc: dict[str, Any]) -> None:
        doc["files"][1]["upload-time"] = now
        # A file with no upload time counts as young.
        extra = dict(doc["files"][1])
        extra.pop("upload-time")
        extra["filename"] = wheel_name("fresh", "3.0")
        extra["url"] = "../../files/" + extra["filename"]
        extra["hashes"] = {"sha256": up.add_file(extra["filename"], wheel_bytes("fresh", "3.0"))}
        doc["files"].append(extra)

    up.edit_page("fresh", young)
    response = _page(index, "fresh")
    # The page says nothing of the held files.
    assert _filenames(response) == [wheel_name("fresh", "1.0")]
    assert response.json()["versions"] == ["1.0"]
    with index.db.read() as s:
        states = {m.filename: m.state for m in s.scalars(select(MirrorFile))}
    assert states[wheel_name("fresh", "2.0")] == FILE_HELD
    assert states[wheel_name("fresh", "3.0")] == FILE_HELD
    # An emergency bypass of one version, recorded.
    with index.db.write() as s:
        rules.add_exemption(
            s, "fresh", version="2.0", reason="CVE fix", expires_at=None, origin=CLI, actor_id=None
        )
    assert _mirror(index).promote() == ["fresh"]
    wait_for(lambda: wheel_name("fresh", "2.0") in _filenames(_page(index, "fresh")))
    assert wheel_name("fresh", "3.0") not in _filenames(_page(index, "fresh"))
    # A project-wide exemption with an expiry lets the rest through.
    with index.db.write() as s:
        rules.add_exemption(
            s,
            "fresh",
            version=None,
            reason="vetted",
            expires_at=utcnow() + dt.timedelta(days=1),
            origin=CLI,
            actor_id=None,
        )
    _mirror(index).promote()
    wait_for(lambda: wheel_name("fresh", "3.0") in _filenames(_page(index, "fresh")))
    with index.db.read() as s:
        tags = [e.tag for e in s.scalars(select(Event).order_by(Event.id))]
    assert tags.count("mirror:cooldown:exempt") == 2


def test_the_cooldown_releases_files_once_they_mature(index: Index, up: StaticUpstream) -> None:
    _add(index, up, cooldown_days=1)
    _project(up, "ripening", "1.0", when=utcnow() - dt.timedelta(hours=20))
    assert _page(index, "ripening").status_code == 404  # everything held: nothing to serve
    mirror = _mirror(index)
    assert mirror.promote(now=utcnow() + dt.timedelta(hours=5)) == ["ripening"]
    wait_for(lambda: _page(index, "ripening").status_code == 200)
    assert _filenames(_page(index, "ripening")) == [wheel_name("ripening", "1.0")]


def test_upstream_yanks_removals_and_status_are_followed(index: Index, up: StaticUpstream) -> None:
    _add(index, up)
    _project(up, "moving", "1.0", "2.0", "3.0")
    assert len(_filenames(_page(index, "moving"))) == 3
    mirror = _mirror(index)

    def change(doc: dict[str, Any]) -> None:
        doc["files"][1]["yanked"] = "broken build"
        del doc["files"][2]  # removed upstream (malware)

    up.edit_page("moving", change)
    report = mirror.refresh("moving", force=True).report
    assert report is not None
    assert report.yanked == ["2.0"] and report.removed == [wheel_name("moving", "3.0")]
    wait_for(lambda: len(_filenames(_page(index, "moving"))) == 2)
    files = {f["filename"]: f for f in _page(index, "moving").json()["files"]}
    assert files[wheel_name("moving", "2.0")]["yanked"] == "broken build"
    with index.db.read() as s:
        removed = s.scalar(
            select(MirrorFile).where(MirrorFile.filename == wheel_name("moving", "3.0"))
        )
        assert removed is not None and removed.state == FILE_REMOVED
        row = s.get(File, removed.file_id)
        assert row is not None and row.deletion_id is not None  # soft: restorable
        tags = {e.tag for e in s.scalars(select(Event))}
    assert {"release:yank", "file:delete", "mirror:project:sync"} <= tags

    # Unyanked upstream: unyanked here.
    up.edit_page("moving", lambda doc: doc["files"][1].pop("yanked"))
    assert mirror.refresh("moving", force=True).report.unyanked == ["2.0"]  # type: ignore[union-attr]

    # Quarantined upstream (PEP 792): gone from the page and the root at once.
    listed: list[Any] = []

    def quarantine(doc: dict[str, Any]) -> None:
        # As PyPI serves it: the status, and no files.
        listed.extend(doc["files"])
        doc.update({"project-status": {"status": "quarantined"}, "files": []})

    up.edit_page("moving", quarantine)
    assert mirror.refresh("moving", force=True).report.status == "quarantined"  # type: ignore[union-attr]
    mirror.close()
    wait_for(lambda: _filenames(_page(index, "moving")) == [])
    assert _page(index, "moving").json()["project-status"]["status"] == "quarantined"
    root = index.client.get("/simple/", headers={"accept": JSON}).json()
    assert "moving" not in [p["name"] for p in root["projects"]]

    # Lifted upstream: the files come back (they were hidden, not removed).
    up.edit_page("moving", lambda doc: doc.update({"project-status": {}, "files": listed}))
    mirror = _mirror(index)
    assert mirror.refresh("moving", force=True).report.status == "active"  # type: ignore[union-attr]
    mirror.close()
    wait_for(lambda: len(_filenames(_page(index, "moving"))) == 2)


def test_a_project_deleted_upstream_leaves_the_index(index: Index, up: StaticUpstream) -> None:
    _add(index, up)
    _project(up, "gone", "1.0")
    assert len(_filenames(_page(index, "gone"))) == 1
    up.remove_project("gone")
    mirror = _mirror(index)
    assert mirror.refresh("gone", force=True).outcome == "missing"
    mirror.close()
    wait_for(lambda: _filenames(_page(index, "gone")) == [])


def test_a_stale_page_is_served_while_upstream_fails(index: Index, up: StaticUpstream) -> None:
    _add(index, up, ttl_seconds=1)
    _project(up, "steady", "1.0")
    assert len(_filenames(_page(index, "steady"))) == 1
    assert "x-stockade-stale" not in _page(index, "steady").headers
    up.set_page_mode("steady", "error")
    time.sleep(1.2)
    # Expired: the stale page is served at once, the refresh runs behind it and fails.
    first = _page(index, "steady")
    assert _filenames(first) == [wheel_name("steady", "1.0")]
    wait_for(lambda: "x-stockade-stale" in _page(index, "steady").headers)
    assert _filenames(_page(index, "steady")) == [wheel_name("steady", "1.0")]
    # The upstream back: the next refresh clears the mark.
    up.set_page_mode("steady", None)
    mirror = _mirror(index)
    assert mirror.refresh("steady", force=True).outcome == "ok"
    mirror.close()


def test_an_unknown_name_with_upstream_down_is_503(index: Index, tmp_path: Any) -> None:
    with StaticUpstream.start(tmp_path / "dead") as dead:
        url = dead.url
    with index.db.write() as s:
        add_upstream(s, "dead", url, origin=CLI, actor_id=None)
    response = _page(index, "anything")
    assert response.status_code == 503
    assert "Upstream index unavailable" in response.text


def test_an_origin_rule_takes_upstream_files_off_a_name_and_back(
    index: Index, up: StaticUpstream
) -> None:
    _add(index, up)
    _project(up, "switched", "1.0")
    assert _filenames(_page(index, "switched")) == [wheel_name("switched", "1.0")]
    with index.db.write() as s:
        rules.set_origin(s, "switched", "local", upstream_name=None, origin=CLI, actor_id=None)
        assert reconcile_name(s, "switched").removed == [wheel_name("switched", "1.0")]
    wait_for(lambda: _filenames(_page(index, "switched")) == [])
    # A local upload is allowed by the rule; the project has no owner, so an admin grants one.
    response = index.upload(wheel_bytes("switched", "2.0"), wheel_name("switched", "2.0"))
    assert response.status_code == 403 and "isn't allowed to upload" in response.text
    with index.db.write() as s:
        rules.set_origin(s, "switched", "both", upstream_name="pypi", origin=CLI, actor_id=None)
        assert reconcile_name(s, "switched").published == [wheel_name("switched", "1.0")]
    wait_for(lambda: _filenames(_page(index, "switched")) == [wheel_name("switched", "1.0")])


def test_an_upstream_added_later_serves_names_that_were_404(
    index: Index, up: StaticUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("stockade.mirror.pages.UPSTREAMS_TTL", 0.2)
    _project(up, "later", "1.0")
    assert _page(index, "later").status_code == 404
    _add(index, up)
    wait_for(lambda: _page(index, "later").status_code == 200)


def test_the_admin_page_shows_upstreams_held_files_and_rules(
    index: Index, up: StaticUpstream
) -> None:
    _add(index, up, cooldown_days=2)
    _project(up, "brand-new", "1.0", when=utcnow())
    assert _page(index, "brand-new").status_code == 404  # held
    with index.db.write() as s:
        rules.set_origin(s, "ours", "local", upstream_name=None, origin=CLI, actor_id=None)
    index.user("root", admin=True)
    admin = login_client(index, "root")
    page = admin.get("/admin/mirror/")
    assert page.status_code == 200
    text = page.text
    assert "pypi" in text and up.url in text and "2 day(s)" in text
    assert wheel_name("brand-new", "1.0") in text
    assert "ours is served from local uploads only" in text
    # Not for everyone.
    assert login_client(index, "mallory").get("/admin/mirror/").status_code in (403, 404)


def test_a_hostile_page_cannot_claim_another_projects_filenames(
    index: Index, up: StaticUpstream
) -> None:
    _add(index, up)
    _project(up, "sneaky", "1.0")
    victim = wheel_name("victim", "1.0")

    def claim(doc: dict[str, Any]) -> None:
        sha = up.add_file(victim, wheel_bytes("victim", "1.0"))
        doc["files"].append(
            {"filename": victim, "url": f"../../files/{victim}", "hashes": {"sha256": sha}}
        )

    up.edit_page("sneaky", claim)
    assert _filenames(_page(index, "sneaky")) == [wheel_name("sneaky", "1.0")]
    with index.db.read() as s:
        assert s.get(FilenameRegistry, victim) is None
        assert s.scalar(select(MirrorFile).where(MirrorFile.filename == victim)) is None
    # The victim's own upload still works.
    assert index.upload(wheel_bytes("victim", "1.0"), victim).status_code == 200


def test_a_local_quarantine_is_not_undone_by_the_next_refresh(
    index: Index, up: StaticUpstream
) -> None:
    _add(index, up)
    _project(up, "suspect", "1.0")
    assert len(_filenames(_page(index, "suspect"))) == 1
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "suspect"))
        assert project is not None
        set_status(s, project, "quarantined", "our own finding", origin=CLI, actor_id=None)
    mirror = _mirror(index)
    report = mirror.refresh("suspect", force=True).report
    assert report is not None and report.status is None
    # And a quarantine an admin lifted here stays lifted while upstream keeps it.
    up.edit_page("suspect", lambda doc: doc.update({"project-status": {"status": "quarantined"}}))
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "suspect"))
        assert project is not None
        set_status(s, project, "active", None, origin=CLI, actor_id=None)
    mirror.refresh("suspect", force=True)  # upstream's quarantine is followed once
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "suspect"))
        assert project is not None and project.status == "quarantined"
        set_status(s, project, "active", None, origin=CLI, actor_id=None)
    report = mirror.refresh("suspect", force=True).report
    mirror.close()
    assert report is not None and report.status is None
    with index.db.read() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "suspect"))
        assert project is not None and project.status == "active"


def test_a_name_that_cannot_be_a_project_is_not_asked_upstream(
    index: Index, up: StaticUpstream
) -> None:
    _add(index, up)
    assert _page(index, "-").status_code in (301, 404)
    assert _page(index, "a" * 300).status_code == 404
    with index.db.read() as s:
        assert s.scalar(select(MirrorProject)) is None
    assert sum(up.requests.values()) == 0


ATTESTED = Path(__file__).parent.parent / "fixtures" / "attestations"
SDIST = "pypi_attestations-0.0.19.tar.gz"


def test_upstream_provenance_is_verified_then_served(index: Index, up: StaticUpstream) -> None:
    _add(index, up)
    up.add_project("pypi-attestations", [(SDIST, (ATTESTED / SDIST).read_bytes())])
    provenance = (ATTESTED / (SDIST + ".provenance")).read_bytes()
    up.add_file(SDIST + ".provenance", provenance)
    url = up.file_url(SDIST + ".provenance")
    up.edit_page("pypi-attestations", lambda doc: doc["files"][0].update({"provenance": url}))
    entry = _page(index, "pypi-attestations").json()["files"][0]
    # Served from here, as for a local upload with attestations.
    link = entry["provenance"]
    assert link.endswith(f"/integrity/pypi-attestations/0.0.19/{SDIST}/provenance")
    served = index.client.get(link.replace("http://testserver", ""))
    assert served.status_code == 200
    bundle = served.json()["attestation_bundles"][0]
    assert bundle["publisher"]["repository"] == "trailofbits/pypi-attestations"


def test_upstream_provenance_that_does_not_verify_is_not_served(
    index: Index, up: StaticUpstream
) -> None:
    _add(index, up)
    # The attestation is real, but for other bytes than this file's.
    other = SDIST.replace("0.0.19", "0.0.20")
    up.add_project("pypi-attestations", [(other, b"not the attested bytes")])
    up.add_file("p.json", (ATTESTED / (SDIST + ".provenance")).read_bytes())
    url = up.file_url("p.json")
    up.edit_page("pypi-attestations", lambda doc: doc["files"][0].update({"provenance": url}))
    entry = _page(index, "pypi-attestations").json()["files"][0]
    assert entry.get("provenance") is None
    with index.db.read() as s:
        event = s.scalar(select(Event).where(Event.tag == "mirror:provenance:refused"))
        assert event is not None and other in event.details["summary"]
