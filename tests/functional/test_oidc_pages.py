"""Publisher management pages: owners' project publishing page, users' pending publishers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from stockade.events.models import Event
from stockade.index.models import ROLE_MAINTAINER, Project, Role
from stockade.oidc.models import PendingPublisher, Publisher
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client

NAME = "quillwort"
PAGE = f"/manage/project/{NAME}/publishing/"
GITHUB = {
    "owner": "octo",
    "owner_id": "4242",
    "repository": "tools",
    "workflow": "release.yml",
    "environment": "pypi",
}


def _post(client: TestClient, path: str, data: dict[str, str]) -> Any:
    return client.post(path, data=data, follow_redirects=False)


def _project(index: Index) -> int:
    response = index.upload(wheel_bytes(NAME, "0.1"), wheel_name(NAME, "0.1"))
    assert response.status_code == 200, response.text
    with index.db.read() as session:
        project_id = session.scalar(select(Project.id).where(Project.normalized_name == NAME))
        assert project_id is not None
        return project_id


def test_an_owner_adds_and_removes_publishers(index: Index) -> None:
    project_id = _project(index)
    client = login_client(index, "alice")
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "No trusted publishers yet." in page.text
    assert "Add a GitHub Actions publisher" in page.text
    assert "Other OIDC issuer" not in page.text  # administrators only
    assert f'href="/manage/project/{NAME}/publishing/" aria-current="page"' in page.text

    token = csrf_from(client, PAGE)
    added = _post(client, PAGE + "github/", {**GITHUB, "csrf_token": token})
    assert added.status_code == 303 and added.headers["location"] == PAGE + "?done=added"
    listed = client.get(added.headers["location"])
    assert "GitHub octo/tools (release.yml, environment pypi)" in listed.text
    assert "The trusted publisher is added." in listed.text

    again = _post(client, PAGE + "github/", {**GITHUB, "csrf_token": token})
    assert again.status_code == 400 and "already has this publisher" in again.text
    bad = _post(client, PAGE + "gitlab/", {"namespace": "grp", "project": "", "csrf_token": token})
    assert bad.status_code == 400 and "The project is required." in bad.text
    bad = _post(client, PAGE + "github/", {**GITHUB, "workflow": "../x.yml", "csrf_token": token})
    assert bad.status_code == 400 and "without a path" in bad.text
    assert 'value="../x.yml"' in bad.text  # the form keeps what was typed
    oidc = _post(
        client,
        PAGE + "oidc/",
        data={
            "issuer_url": "https://ci.test",
            "audience": "a",
            "claims": "x=y",
            "csrf_token": token,
        },
    )
    assert oidc.status_code == 404
    google = _post(
        client, PAGE + "google/", {"email": "ci@p.iam.gserviceaccount.com", "csrf_token": token}
    )
    assert google.status_code == 303

    with index.db.read() as session:
        publishers = session.scalars(
            select(Publisher).where(Publisher.project_id == project_id).order_by(Publisher.id)
        ).all()
        assert [p.provider for p in publishers] == ["github", "google"]
        first = publishers[0].id
    removed = _post(client, f"{PAGE}{first}/remove/", {"csrf_token": token})
    assert removed.status_code == 303
    assert _post(client, f"{PAGE}{first}/remove/", {"csrf_token": token}).status_code == 404

    history = client.get(f"/manage/project/{NAME}/history/").text
    assert "publisher:add" in history and "publisher:remove" in history
    with index.db.read() as session:
        events = session.scalars(
            select(Event).where(Event.project_id == project_id, Event.tag.like("publisher:%"))
        ).all()
        assert [e.tag for e in events] == ["publisher:add", "publisher:add", "publisher:remove"]
        assert {e.actor_id for e in events} == {index.user("alice").id}


def test_maintainers_and_strangers_cannot_manage_publishers(index: Index) -> None:
    project_id = _project(index)
    bob_id = index.user("bob").id
    with index.db.write() as session:
        session.add(Role(user_id=bob_id, project_id=project_id, role_name=ROLE_MAINTAINER))
    bob = login_client(index, "bob")
    assert bob.get(PAGE).status_code == 403
    token = csrf_from(bob, "/manage/account/publishing/")
    assert _post(bob, PAGE + "github/", {**GITHUB, "csrf_token": token}).status_code == 403
    assert (
        "publishing/" not in bob.get(f"/manage/project/{NAME}/").text.split("Security history")[0]
    )
    # Without a CSRF token nothing happens even for the owner.
    alice = login_client(index, "alice")
    assert _post(alice, PAGE + "github/", GITHUB).status_code == 403
    with index.db.read() as session:
        assert session.scalar(select(Publisher.id)) is None


def test_an_administrator_adds_a_generic_oidc_publisher(index: Index) -> None:
    _project(index)
    index.user("root", admin=True)
    admin = login_client(index, "root")
    page = admin.get(PAGE)
    assert "Add a Other OIDC issuer (administrators) publisher" in page.text
    token = csrf_from(admin, PAGE)
    added = _post(
        admin,
        PAGE + "oidc/",
        data={
            "issuer_url": "https://ci.example.test/",
            "audience": "forge",
            "claims": "repo=a/b\nbranch=main",
            "csrf_token": token,
        },
    )
    assert added.status_code == 303
    assert "OIDC https://ci.example.test (branch=main, repo=a/b)" in admin.get(PAGE).text


def test_pending_publishers_page(index: Index) -> None:
    _project(index)
    client = login_client(index, "bob")
    page = client.get("/manage/account/publishing/")
    assert page.status_code == 200 and "You have no pending publishers." in page.text
    token = csrf_from(client, "/manage/account/publishing/")
    taken = _post(
        client,
        "/manage/account/publishing/github/",
        data={**GITHUB, "project_name": NAME, "csrf_token": token},
    )
    assert taken.status_code == 400 and "already exists" in taken.text
    added = _post(
        client,
        "/manage/account/publishing/github/",
        data={**GITHUB, "project_name": "Fernbrake", "csrf_token": token},
    )
    assert added.status_code == 303
    listed = client.get("/manage/account/publishing/")
    assert "Fernbrake" in listed.text and "GitHub octo/tools" in listed.text
    with index.db.read() as session:
        pending = session.scalar(select(PendingPublisher))
        assert pending is not None and pending.normalized_name == "fernbrake"
    # Another user cannot remove it.
    carol = login_client(index, "carol")
    carol_token = csrf_from(carol, "/manage/account/publishing/")
    refused = _post(
        carol, f"/manage/account/publishing/{pending.id}/remove/", {"csrf_token": carol_token}
    )
    assert refused.status_code == 404
    removed = _post(
        client, f"/manage/account/publishing/{pending.id}/remove/", {"csrf_token": token}
    )
    assert removed.status_code == 303
    history = client.get("/manage/account/").text
    assert "publisher:pending:add" in history and "publisher:pending:remove" in history
    assert client.get("/manage/account/publishing/").text.count("Fernbrake") == 0


def test_a_pending_publisher_is_refused_without_2fa_when_all_need_it(settings: Any) -> None:
    from stockade.config import replace

    with Index.open(replace(settings, two_factor_required="all")) as index:
        client = login_client(index, "bob")
        token = csrf_from(client, "/manage/account/publishing/")
        refused = _post(
            client,
            "/manage/account/publishing/github/",
            data={**GITHUB, "project_name": "Fernbrake", "csrf_token": token},
        )
        assert refused.status_code == 400
        assert "must enable two-factor authentication" in refused.text
        with index.db.read() as session:
            assert session.scalar(select(PendingPublisher.id)) is None
