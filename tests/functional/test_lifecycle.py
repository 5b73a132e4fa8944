"""Yank, delete, restore, archive and closed releases, through the web pages and the upload API,
checked on every read path: simple pages, files, the JSON API, the project pages, search."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import File, Project, Release
from stockade.index.roles import add_role
from stockade.lifecycle import services
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def demo(index: Index) -> Index:
    """Project "demo" owned by alice (bob maintains it): 1.0 (wheel + sdist) and 2.0 (wheel)."""
    return demo_project(index)


def demo_project(index: Index) -> Index:
    """Project "demo" owned by alice (bob maintains it): 1.0 (wheel + sdist) and 2.0 (wheel)."""
    token = index.token("alice")
    for content, name in (
        (wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")),
        (sdist_bytes("demo", "1.0"), sdist_name("demo", "1.0")),
        (wheel_bytes("demo", "2.0"), wheel_name("demo", "2.0")),
    ):
        assert index.upload(content, name, token=token).status_code == 200
    bob = index.user("bob")
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None
        add_role(s, project=project, user=bob, role_name="Maintainer", origin=CLI)
    return index


def simple_json(index: Index, name: str = "demo") -> dict[str, object]:
    r = index.client.get(f"/simple/{name}/", headers=JSON)
    assert r.status_code == 200, r.text
    doc: dict[str, object] = r.json()
    return doc


def files_of(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    return {f["filename"]: f for f in doc["files"]}  # type: ignore[attr-defined]


def anchors(index: Index, name: str = "demo") -> dict[str, str]:
    html = index.client.get(f"/simple/{name}/").text
    return {m.group(2): m.group(1) for m in re.finditer(r"<a ([^>]*)>([^<]+)</a>", html)}


def post(client: TestClient, path: str, page: str, **fields: str) -> object:
    token = csrf_from(client, page)
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def tags(index: Index) -> list[str]:
    with index.db.read() as s:
        return list(s.scalars(select(Event.tag).order_by(Event.id)))


RELEASES = "/manage/project/demo/releases/"


def test_yank_and_unyank_from_the_releases_page(demo: Index) -> None:
    bob = login_client(demo, "bob")  # a maintainer may yank
    r = post(bob, RELEASES + "2.0/yank/", RELEASES, reason="broken <build>")
    assert r.status_code == 303  # type: ignore[attr-defined]

    files = files_of(simple_json(demo))
    assert files["demo-2.0-py3-none-any.whl"]["yanked"] == "broken <build>"
    assert files["demo-1.0-py3-none-any.whl"]["yanked"] is False
    assert 'data-yanked="broken &lt;build&gt;"' in anchors(demo)["demo-2.0-py3-none-any.whl"]
    legacy = demo.client.get("/pypi/demo/json").json()
    assert legacy["info"]["version"] == "1.0"  # the newest release that is not yanked
    assert legacy["releases"]["2.0"][0]["yanked"] is True
    assert legacy["releases"]["2.0"][0]["yanked_reason"] == "broken <build>"
    page = demo.client.get("/project/demo/2.0/").text
    assert "This release has been yanked." in page and "broken &lt;build&gt;" in page
    manage = bob.get(RELEASES).text
    assert "Unyank" in manage and "Delete release" not in manage  # maintainers cannot delete

    # Yanking twice is refused with the reason.
    again = post(bob, RELEASES + "2.0/yank/", RELEASES, reason="x")
    assert again.status_code == 400  # type: ignore[attr-defined]
    assert "already yanked" in again.text  # type: ignore[attr-defined]

    r = post(bob, RELEASES + "2.0/unyank/", RELEASES)
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert files_of(simple_json(demo))["demo-2.0-py3-none-any.whl"]["yanked"] is False
    assert demo.client.get("/pypi/demo/2.0/json").json()["info"]["yanked"] is False
    assert tags(demo)[-2:] == ["release:yank", "release:unyank"]
    history = login_client(demo, "alice").get("/manage/project/demo/history/").text
    assert "release:yank" in history and "release:unyank" in history


def _snapshot(
    index: Index,
) -> tuple[dict[str, dict[str, object]], dict[str, str], dict[str, bytes]]:
    doc = files_of(simple_json(index))
    html = anchors(index)
    blobs: dict[str, bytes] = {}
    for name, entry in doc.items():
        url = str(entry["url"]).replace("../..", "")
        r = index.client.get(url)
        assert r.status_code == 200
        blobs[name] = r.content
    return doc, html, blobs


def test_delete_then_restore_gives_back_identical_files_and_entries(demo: Index) -> None:
    before_doc, before_html, before_blobs = _snapshot(demo)
    wheel = "demo-1.0-py3-none-any.whl"
    wheel_url = str(before_doc[wheel]["url"]).replace("../..", "")
    alice = login_client(demo, "alice")

    # Delete one file: the confirmation says what breaks and wants the filename typed.
    page = alice.get(f"/manage/project/demo/files/{wheel}/delete/")
    assert page.status_code == 200
    assert "never be uploaded again" in page.text and "require-hashes" in page.text
    path = f"/manage/project/demo/files/{wheel}/delete/"
    wrong = post(alice, path, path, confirm="demo")
    assert wrong.status_code == 400  # type: ignore[attr-defined]
    assert demo.client.get(wheel_url).status_code == 200
    assert post(alice, path, path, confirm=wheel).status_code == 303  # type: ignore[attr-defined]
    assert wheel not in files_of(simple_json(demo))
    assert wheel not in anchors(demo)
    assert demo.client.get(wheel_url).status_code == 404
    assert demo.client.get(wheel_url + ".metadata").status_code == 404
    legacy = demo.client.get("/pypi/demo/1.0/json").json()
    assert [u["filename"] for u in legacy["urls"]] == ["demo-1.0.tar.gz"]

    # The deleted filename is burned: not with other bytes, and its bytes not under another name.
    token = demo.token("alice")
    other = wheel_bytes("demo", "1.0", files={"demo/extra.py": b"x = 1\n"})
    refused = demo.upload(other, wheel, token=token)
    assert refused.status_code == 400 and "can never be reused" in refused.text
    renamed = demo.upload(before_blobs[wheel], "demo-1.0-1-py3-none-any.whl", token=token)
    assert renamed.status_code == 400 and "since deleted" in renamed.text

    # Delete release 2.0, then the whole project.
    path = "/manage/project/demo/releases/2.0/delete/"
    assert post(alice, path, path, confirm="2.0").status_code == 303  # type: ignore[attr-defined]
    assert simple_json(demo)["versions"] == ["1.0"]
    path = "/manage/project/demo/delete/"
    assert post(alice, path, path, confirm="demo").status_code == 303  # type: ignore[attr-defined]
    assert demo.client.get("/simple/demo/").status_code == 404
    assert "demo" not in demo.client.get("/simple/").text
    assert demo.client.get("/pypi/demo/json").status_code == 404
    assert demo.client.get("/project/demo/").status_code == 404
    assert "/project/demo/" not in demo.client.get("/search/?q=demo").text
    assert "/project/demo/" not in demo.client.get("/").text
    assert alice.get("/manage/project/demo/").status_code == 404
    assert "demo" not in alice.get("/manage/projects/").text
    for entry in before_doc.values():
        assert demo.client.get(str(entry["url"]).replace("../..", "")).status_code == 404
    with demo.db.read() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None and project.total_size == 0

    # One admin click per deletion brings everything back; the list says what each one was.
    demo.user("root", admin=True)
    root = login_client(demo, "root")
    listing = root.get("/admin/deleted/").text
    assert "project <strong>demo</strong>" in listing and f"<code>{wheel}</code>" in listing
    ids = [int(i) for i in re.findall(r'id="deletion-(\d+)"', listing)]
    assert len(ids) == 3
    for deletion_id in ids:  # newest first: the project, release 2.0, then the wheel
        r = post(root, f"/admin/deleted/{deletion_id}/restore/", "/admin/deleted/")
        assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    assert "Nothing deleted." in root.get("/admin/deleted/").text

    after_doc, after_html, after_blobs = _snapshot(demo)
    assert after_doc == before_doc
    assert after_html == before_html
    assert after_blobs == before_blobs
    assert "demo" in demo.client.get("/simple/").text
    with demo.db.read() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None
        assert project.total_size == sum(len(b) for b in before_blobs.values())
    # Restored, the filename still cannot take other bytes.
    refused = demo.upload(other, wheel, token=token)
    assert refused.status_code == 400 and "File already exists" in refused.text
    assert demo.upload(before_blobs[wheel], wheel, token=token).status_code == 200  # skip-existing
    history = tags(demo)
    for tag in ("file:delete", "release:delete", "project:delete"):
        assert tag in history
    for tag in ("project:restore", "release:restore", "file:restore"):
        assert tag in history


def test_restoring_a_file_brings_back_its_release_and_project_only(demo: Index) -> None:
    with demo.db.write() as s:
        project = services.find_project(s, "demo")
        assert project is not None
        services.delete_file(s, project, "demo-1.0.tar.gz", origin=CLI, actor_id=None, admin=True)
        services.delete_project(s, project, origin=CLI, actor_id=None, admin=True)
    with demo.db.write() as s:
        summary = services.restore(
            s, "demo", filename="demo-2.0-py3-none-any.whl", origin=CLI, actor_id=None
        )
        assert summary.startswith("restored demo-2.0-py3-none-any.whl")
    services.announce(demo.app.context.pages, "demo")
    assert set(files_of(simple_json(demo))) == {"demo-2.0-py3-none-any.whl"}
    with demo.db.write() as s:
        services.restore(s, "demo", "1.0", origin=CLI, actor_id=None)
    services.announce(demo.app.context.pages, "demo")
    # The sdist was deleted on its own before the project: it stays deleted.
    assert set(files_of(simple_json(demo))) == {
        "demo-1.0-py3-none-any.whl",
        "demo-2.0-py3-none-any.whl",
    }


def test_restoring_the_project_after_a_partial_restore_brings_back_the_rest(demo: Index) -> None:
    with demo.db.write() as s:
        project = services.find_project(s, "demo")
        assert project is not None
        services.delete_file(s, project, "demo-1.0.tar.gz", origin=CLI, actor_id=None, admin=True)
        services.delete_project(s, project, origin=CLI, actor_id=None, admin=True)
    with demo.db.write() as s:
        services.restore(s, "demo", "2.0", origin=CLI, actor_id=None)
    with demo.db.write() as s:
        summary = services.restore(s, "demo", origin=CLI, actor_id=None)
        assert summary == "restored project demo (1 releases, 1 files)"
    services.announce(demo.app.context.pages, "demo")
    # The sdist was deleted on its own before the project: it stays deleted.
    assert set(files_of(simple_json(demo))) == {
        "demo-1.0-py3-none-any.whl",
        "demo-2.0-py3-none-any.whl",
    }
    with demo.db.write() as s, pytest.raises(services.LifecycleError, match="is not deleted"):
        services.restore(s, "demo", origin=CLI, actor_id=None)


def test_a_former_owner_recreates_an_archived_then_deleted_project(demo: Index) -> None:
    with demo.db.write() as s:
        project = services.find_project(s, "demo")
        assert project is not None
        services.archive(s, project, "done", origin=CLI, actor_id=None, admin=True)
        services.delete_project(s, project, origin=CLI, actor_id=None, admin=True)
    r = demo.upload(wheel_bytes("demo", "3.0"), wheel_name("demo", "3.0"), token=demo.token())
    assert r.status_code == 200, r.text
    doc = simple_json(demo)
    assert doc["versions"] == ["3.0"]
    assert doc["project-status"] == {"status": "active"}


def test_critical_projects_can_only_be_yanked_by_their_owners(index: Index) -> None:
    # The 2FA policy for critical projects is another feature's; off here.
    with _reopened(demo_project(index), two_factor_required="none") as demo:
        _critical_policy(demo)


def _critical_policy(demo: Index) -> None:
    with demo.db.write() as s:
        s.execute(update(Project).where(Project.normalized_name == "demo").values(critical=True))
    alice = login_client(demo, "alice")
    assert "Delete release" not in alice.get(RELEASES).text
    for path in (
        "/manage/project/demo/delete/",
        "/manage/project/demo/releases/2.0/delete/",
        "/manage/project/demo/files/demo-1.0.tar.gz/delete/",
    ):
        page = alice.get(path)
        assert page.status_code == 403 and "critical-project deletion policy" in page.text
    r = post(alice, "/manage/project/demo/delete/", RELEASES, confirm="demo")
    assert r.status_code == 403  # type: ignore[attr-defined]
    assert demo.client.get("/simple/demo/").status_code == 200
    # Yanking is allowed.
    assert post(alice, RELEASES + "2.0/yank/", RELEASES).status_code == 303  # type: ignore[attr-defined]
    # An administrator may delete.
    demo.user("root", admin=True)
    root = login_client(demo, "root")
    path = "/manage/project/demo/releases/2.0/delete/"
    assert post(root, path, path, confirm="2.0").status_code == 303  # type: ignore[attr-defined]
    assert simple_json(demo)["versions"] == ["1.0"]
    # ... and restore it with the button on the releases page.
    assert "Restore release 2.0" in root.get(RELEASES).text
    r = post(root, "/manage/project/demo/restore/", RELEASES, version="2.0")
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert simple_json(demo)["versions"] == ["1.0", "2.0"]
    # Owners see no such button and cannot call it.
    assert "Restore release" not in alice.get(RELEASES).text
    refused = post(alice, "/manage/project/demo/restore/", RELEASES, version="2.0")
    assert refused.status_code == 403  # type: ignore[attr-defined]


@contextlib.contextmanager
def _reopened(index: Index, **changes: Any) -> Iterator[Index]:
    """Another app on the same database and users, with other settings."""
    with Index.open(dataclasses.replace(index.settings, **changes)) as other:
        other._users.update(index._users)
        yield other


def test_a_deleted_name_is_reserved_for_its_former_owners(demo: Index) -> None:
    alice = login_client(demo, "alice")
    path = "/manage/project/demo/delete/"
    assert post(alice, path, path, confirm="demo").status_code == 303  # type: ignore[attr-defined]
    carol_token = demo.token("carol")
    refused = demo.upload(wheel_bytes("demo", "3.0"), wheel_name("demo", "3.0"), token=carol_token)
    assert refused.status_code == 400
    assert "reserved for that project's former owners until" in refused.text
    # bob was a maintainer, not an owner: refused too.
    bob_token = demo.token("bob")
    refused = demo.upload(wheel_bytes("demo", "3.0"), wheel_name("demo", "3.0"), token=bob_token)
    assert refused.status_code == 400 and "deleted-name reservation" in refused.text

    # Once the reservation is over, anyone may take the name: the old roles go.
    with _reopened(demo, deleted_name_reserved_days=0) as later:
        r = later.upload(wheel_bytes("demo", "3.0"), wheel_name("demo", "3.0"), token=carol_token)
        assert r.status_code == 200, r.text
        doc = simple_json(later)
        assert doc["versions"] == ["3.0"]  # the deleted releases stay deleted
        # The deleted filenames stay burned, also for the name's new owner.
        burned = later.upload(
            wheel_bytes("demo", "1.0", files={"demo/new.py": b""}),
            wheel_name("demo", "1.0"),
            token=carol_token,
        )
        assert burned.status_code == 400
        # A deleted release's version is not reused either, even with new filenames.
        tag = "py311-none-any"
        reused = later.upload(
            wheel_bytes("demo", "2.0", tag=tag), wheel_name("demo", "2.0", tag), token=carol_token
        )
        assert reused.status_code == 400 and "was deleted" in reused.text


def test_a_critical_deleted_name_is_reserved_forever_and_stays_critical(demo: Index) -> None:
    with demo.db.write() as s:
        project = services.find_project(s, "demo")
        assert project is not None
        project.critical = True
        services.delete_project(s, project, origin=CLI, actor_id=None, admin=True)
    services.announce(demo.app.context.pages, "demo")
    with _reopened(demo, deleted_name_reserved_days=0, two_factor_required="none") as later:
        carol = later.upload(
            wheel_bytes("demo", "3.0"), wheel_name("demo", "3.0"), token=demo.token("carol")
        )
        assert carol.status_code == 400 and "forever" in carol.text
        alice = later.upload(
            wheel_bytes("demo", "3.0"), wheel_name("demo", "3.0"), token=demo.token("alice")
        )
        assert alice.status_code == 200, alice.text
    with demo.db.read() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None and project.critical and project.deletion_id is None
    created = [t for t in tags(demo) if t == "project:create"]
    assert len(created) == 2


def test_archived_projects_refuse_uploads_and_say_so(demo: Index) -> None:
    alice = login_client(demo, "alice")
    archive = "/manage/project/demo/archive/"
    r = post(alice, archive, archive, reason="use demo2")
    assert r.status_code == 303  # type: ignore[attr-defined]
    doc = simple_json(demo)
    assert doc["project-status"] == {"status": "archived", "reason": "use demo2"}
    html = demo.client.get("/simple/demo/").text
    assert '<meta name="pypi:project-status" content="archived">' in html
    assert "This project is archived." in demo.client.get("/project/demo/").text
    token = demo.token("alice")
    refused = demo.upload(wheel_bytes("demo", "3.0"), wheel_name("demo", "3.0"), token=token)
    assert refused.status_code == 400 and "is archived and does not accept new uploads" in (
        refused.text
    )
    # Read-only: yanking is refused too, with the reason.
    r = post(alice, RELEASES + "2.0/yank/", RELEASES)
    assert r.status_code == 400 and "archived" in r.text  # type: ignore[attr-defined]
    r = post(alice, "/manage/project/demo/unarchive/", archive)
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert simple_json(demo)["project-status"] == {"status": "active"}
    ok = demo.upload(wheel_bytes("demo", "3.0"), wheel_name("demo", "3.0"), token=token)
    assert ok.status_code == 200
    assert "project:archive" in tags(demo) and "project:unarchive" in tags(demo)
    # Only owners archive.
    bob = login_client(demo, "bob")
    assert bob.get(archive).status_code == 403


def test_closed_releases_refuse_late_files(demo: Index) -> None:
    with demo.db.write() as s:
        s.execute(
            update(Release)
            .where(Release.version == "2.0")
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=15))
        )
    token = demo.token("alice")
    late = demo.upload(sdist_bytes("demo", "2.0"), sdist_name("demo", "2.0"), token=token)
    assert late.status_code == 400
    assert "Uploading new files to releases older than 14 days is not allowed" in late.text
    # Re-uploading a file the release already has still answers OK (twine --skip-existing).
    entry = files_of(simple_json(demo))["demo-2.0-py3-none-any.whl"]
    stored = demo.client.get(str(entry["url"]).replace("../..", "")).content
    same = demo.upload(stored, wheel_name("demo", "2.0"), token=token)
    assert same.status_code == 200, same.text
    # A new release is open; with closed_release_days = 0 nothing ever closes.
    assert demo.upload(
        wheel_bytes("demo", "2.1"), wheel_name("demo", "2.1"), token=token
    ).is_success
    with _reopened(demo, closed_release_days=0) as later:
        r = later.upload(sdist_bytes("demo", "2.0"), sdist_name("demo", "2.0"), token=token)
        assert r.status_code == 200, r.text


def test_quarantine_status_hides_files_and_the_project(demo: Index) -> None:
    """The function helper H5's quarantine uses: PEP 792 rendering of ``quarantined``."""
    url = str(files_of(simple_json(demo))["demo-1.0-py3-none-any.whl"]["url"]).replace("../..", "")
    assert demo.client.get(url).status_code == 200  # remembered by the files app
    with demo.db.write() as s:
        project = services.find_project(s, "demo")
        assert project is not None
        services.set_status(s, project, "quarantined", "malware", origin=CLI, actor_id=None)
    services.announce(demo.app.context.pages, "demo")
    doc = simple_json(demo)
    assert doc["project-status"] == {"status": "quarantined", "reason": "malware"}
    assert doc["files"] == []
    html = demo.client.get("/simple/demo/").text
    assert '<meta name="pypi:project-status" content="quarantined">' in html and "<a " not in html
    assert "demo" not in demo.client.get("/simple/").text
    assert json.loads(demo.client.get("/simple/", headers=JSON).text)["projects"] == []
    assert demo.client.get(url).status_code == 404
    assert demo.client.get(url + ".metadata").status_code == 404
    assert demo.client.get("/project/demo/").status_code == 404
    with demo.db.write() as s:
        project = services.find_project(s, "demo")
        assert project is not None
        services.set_status(s, project, "active", None, origin=CLI, actor_id=None)
    services.announce(demo.app.context.pages, "demo")
    assert demo.client.get(url).status_code == 200
    assert "demo" in demo.client.get("/simple/").text


def test_deleted_files_do_not_count_towards_the_project_size(demo: Index) -> None:
    with demo.db.read() as s:
        before = s.scalar(select(Project.total_size).where(Project.normalized_name == "demo"))
        size = s.scalar(select(File.size).where(File.filename == "demo-1.0.tar.gz"))
    assert before is not None and size is not None
    with demo.db.write() as s:
        project = services.find_project(s, "demo")
        assert project is not None
        services.delete_file(s, project, "demo-1.0.tar.gz", origin=CLI, actor_id=None, admin=True)
    with demo.db.read() as s:
        after = s.scalar(select(Project.total_size).where(Project.normalized_name == "demo"))
    assert after == before - size


def test_pages_of_a_project_deleted_meanwhile_are_404(demo: Index) -> None:
    """The project is deleted between the access check and the page's own read."""
    from sqlalchemy import event

    alice = login_client(demo, "alice")
    engine = demo.db.engine
    fired: list[str] = []
    for path in (RELEASES, "/manage/project/demo/archive/"):
        with demo.db.write() as s:
            project = services.find_project(s, "demo")
            assert project is not None and project.deletion_id is None
        fired.clear()

        def delete_first(conn: object, cursor: object, statement: str, *args: object) -> None:
            if not fired and "FROM projects" in statement and "projects.id = " in statement:
                fired.append(statement)
                with demo.db.write() as s:
                    p = services.find_project(s, "demo")
                    assert p is not None
                    services.delete_project(s, p, origin=CLI, actor_id=None, admin=True)

        event.listen(engine, "before_cursor_execute", delete_first)
        try:
            page = alice.get(path)
        finally:
            event.remove(engine, "before_cursor_execute", delete_first)
        assert fired and page.status_code == 404, page.text
        with demo.db.write() as s:
            services.restore(s, "demo", origin=CLI, actor_id=None)
        services.announce(demo.app.context.pages, "demo")


def test_the_release_delete_page_finds_the_release_by_canonical_version(demo: Index) -> None:
    alice = login_client(demo, "alice")
    path = "/manage/project/demo/releases/2.0.0/delete/"
    page = alice.get(path)
    assert page.status_code == 200, page.text
    assert "demo-2.0-py3-none-any.whl" in page.text
    assert post(alice, path, path, confirm="2.0.0").status_code == 303  # type: ignore[attr-defined]
    assert simple_json(demo)["versions"] == ["1.0"]


def test_deleted_projects_are_not_offered_for_tokens_nor_listed_for_admins(demo: Index) -> None:
    demo.user("root", admin=True)
    alice, root = login_client(demo, "alice"), login_client(demo, "root")
    assert 'name="projects" value="demo"' in alice.get("/manage/account/tokens/").text
    listed = '<li><a href="/project/demo/">demo</a> — Owner</li>'
    assert listed in root.get("/admin/users/alice/").text
    with demo.db.write() as s:
        project = services.find_project(s, "demo")
        assert project is not None
        services.delete_project(s, project, origin=CLI, actor_id=None, admin=True)
    assert 'name="projects" value="demo"' not in alice.get("/manage/account/tokens/").text
    assert listed not in root.get("/admin/users/alice/").text
