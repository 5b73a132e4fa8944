"""API tokens through the web UI: list, create (shown once), scope, expiry, revoke."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from sqlalchemy import func, select
from starlette.testclient import TestClient

from stockade.events.models import Event
from stockade.index.models import Project, Role
from stockade.tokens.models import ApiToken
from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client

PAGE = "/manage/account/tokens/"
NEW_TOKEN_RE = re.compile(r'<code id="new-token">([^<]+)</code>')


def create(client: TestClient, **fields: object) -> httpx.Response:
    """Post the creation form as a browser would, with the page's CSRF token."""
    data = {"csrf_token": csrf_from(client, PAGE), "scope": "all", **fields}
    return client.post(PAGE, data=data)


def new_token(client: TestClient, **fields: object) -> str:
    r = create(client, **fields)
    assert r.status_code == 200, r.text
    match = NEW_TOKEN_RE.search(r.text)
    assert match, r.text
    return match.group(1)


def upload(index: Index, name: str, version: str, token: str) -> httpx.Response:
    return index.upload(wheel_bytes(name, version), wheel_name(name, version), token=token)


def token_row(index: Index, name: str) -> ApiToken:
    with index.db.read() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.name == name))
        assert row is not None
        return row


def tags(index: Index) -> list[str]:
    with index.db.read() as s:
        return list(s.scalars(select(Event.tag).order_by(Event.id)))


def test_anonymous_visitors_are_sent_to_log_in(index: Index) -> None:
    r = index.client.get(PAGE, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/account/login/?next=/manage/account/tokens/"


def test_create_use_scope_and_revoke_through_the_ui(index: Index) -> None:
    alice = login_client(index, "alice")
    page = alice.get(PAGE)
    assert page.status_code == 200
    assert "You have no API tokens yet." in page.text
    # No project yet: only an all-projects token can be made.
    assert re.search(r'value="projects"[^>]* disabled', page.text)

    created = create(alice, name="laptop")
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    everything = NEW_TOKEN_RE.search(created.text)
    assert everything is not None
    everything_token = everything.group(1)
    assert everything_token.startswith("stockade-")
    twine = "twine upload --verbose --repository-url http://testserver/legacy/ -u __token__ -p "
    assert twine + everything_token in created.text
    assert upload(index, "alpha", "1.0", everything_token).status_code == 200
    assert upload(index, "beta", "1.0", everything_token).status_code == 200

    # Both projects can now be chosen for a scoped token.
    form = alice.get(PAGE).text
    assert 'name="projects" value="alpha"' in form and 'name="projects" value="beta"' in form
    scoped = new_token(alice, name="alpha CI", scope="projects", projects=["alpha"])
    assert upload(index, "alpha", "1.1", scoped).status_code == 200
    refused = upload(index, "beta", "1.1", scoped)
    assert refused.status_code == 403
    assert "not valid for project" in refused.text

    listing = alice.get(PAGE).text
    assert everything_token not in listing and scoped not in listing
    assert "All projects" in listing and '<a href="/project/alpha/">alpha</a>' in listing
    row = token_row(index, "alpha CI")
    assert row.projects == ["alpha"] and row.last_used_at is not None

    r = alice.post(
        f"{PAGE}{row.id}/revoke/",
        data={"csrf_token": csrf_from(alice, PAGE)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"{PAGE}?revoked={row.id}"
    after = alice.get(r.headers["location"]).text
    assert "The token “alpha CI” was revoked." in after
    assert "Revoked" in after
    assert token_row(index, "alpha CI").revoked_at is not None

    refused = upload(index, "alpha", "1.2", scoped)
    assert refused.status_code == 403
    assert "revoked" in refused.text
    # The other token is untouched.
    assert upload(index, "alpha", "1.2", everything_token).status_code == 200

    with index.db.read() as s:
        events = s.execute(
            select(Event.tag, Event.actor_id, Event.ip_address, Event.details)
            .where(Event.tag.in_(["token:create", "token:revoke"]))
            .order_by(Event.id)
        ).all()
    alice_id = index.user("alice").id
    assert [(tag, actor) for tag, actor, _, _ in events] == [
        ("token:create", alice_id),
        ("token:create", alice_id),
        ("token:revoke", alice_id),
    ]
    assert all(ip == "testclient" for _, _, ip, _ in events)
    assert events[1][3]["projects"] == ["alpha"] and events[2][3]["token_id"] == row.id


def test_the_token_is_shown_only_once(index: Index) -> None:
    alice = login_client(index, "alice")
    token = new_token(alice, name="once")
    secret_part = token.removeprefix("stockade-")
    for path in (PAGE, "/manage/account/", "/"):
        assert secret_part not in alice.get(path).text
    with index.db.read() as s:
        row = s.scalar(select(ApiToken))
        assert row is not None
        stored = " ".join(str(v) for v in vars(row).values())
    assert secret_part not in stored


def test_other_users_cannot_revoke_your_token(index: Index) -> None:
    alice = login_client(index, "alice")
    token = new_token(alice, name="mine")
    row = token_row(index, "mine")
    bob = login_client(index, "bob")
    r = bob.post(f"{PAGE}{row.id}/revoke/", data={"csrf_token": csrf_from(bob, PAGE)})
    assert r.status_code == 404
    assert token_row(index, "mine").revoked_at is None
    assert "token:revoke" not in tags(index)
    assert "mine" not in bob.get(PAGE).text
    assert upload(index, "alpha", "1.0", token).status_code == 200
    # Unknown ids are not found either.
    r = alice.post(f"{PAGE}{row.id + 100}/revoke/", data={"csrf_token": csrf_from(alice, PAGE)})
    assert r.status_code == 404


def test_scope_is_limited_to_projects_with_a_role(index: Index) -> None:
    assert upload(index, "bobs-pkg", "1.0", index.token("bob")).status_code == 200
    alice = login_client(index, "alice")
    assert upload(index, "alpha", "1.0", index.token("alice")).status_code == 200
    assert 'value="bobs-pkg"' not in alice.get(PAGE).text
    r = create(alice, name="sneaky", scope="projects", projects=["alpha", "Bobs_Pkg"])
    assert r.status_code == 400
    assert "Unknown or invalid project name: bobs-pkg" in r.text
    assert NEW_TOKEN_RE.search(r.text) is None
    # A maintainer role is enough, as on PyPI.
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "bobs-pkg"))
        assert project is not None
        s.add(Role(user_id=index.user("alice").id, project_id=project.id, role_name="Maintainer"))
    token = new_token(alice, name="helping bob", scope="projects", projects=["bobs-pkg"])
    assert upload(index, "bobs-pkg", "1.1", token).status_code == 200
    assert upload(index, "alpha", "1.1", token).status_code == 403


def test_invalid_forms_report_every_problem_and_create_nothing(index: Index) -> None:
    alice = login_client(index, "alice")
    new_token(alice, name="taken")
    r = create(alice, name="", scope="projects", expires_days="0")
    assert r.status_code == 400
    for message in (
        "Specify a token name",
        "Select at least one project for a project-scoped token",
        "Expiry must be a whole number of days from 1 to 3650",
    ):
        assert message in r.text
    assert 'aria-invalid="true"' in r.text
    r = create(alice, name="taken")
    assert r.status_code == 400 and "API token name already in use" in r.text
    assert 'value="taken"' in r.text  # the form keeps what was typed
    r = create(alice, name="x" * 101, scope="everything", expires_days="soon")
    assert r.status_code == 400
    assert "Token name must be 100 characters or less" in r.text
    assert "Unknown token scope" in r.text
    assert "Expiry must be" in r.text
    with index.db.read() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken)) == 1
    assert tags(index).count("token:create") == 1


def test_expiring_token(index: Index) -> None:
    alice = login_client(index, "alice")
    r = create(alice, name="week", expires_days="7")
    assert "In 7 days" in r.text
    row = token_row(index, "week")
    assert row.expires_at is not None
    left = row.expires_at - row.created_at
    assert dt.timedelta(days=7) - dt.timedelta(seconds=5) < left <= dt.timedelta(days=7)
    assert row.expires_at.strftime("%Y-%m-%d %H:%M") in alice.get(PAGE).text


def test_a_revoked_name_can_be_used_again(index: Index) -> None:
    alice = login_client(index, "alice")
    new_token(alice, name="ci")
    row = token_row(index, "ci")
    alice.post(f"{PAGE}{row.id}/revoke/", data={"csrf_token": csrf_from(alice, PAGE)})
    assert create(alice, name="ci").status_code == 200


def test_forms_without_csrf_token_are_refused(index: Index) -> None:
    alice = login_client(index, "alice")
    r = alice.post(PAGE, data={"name": "no csrf", "scope": "all"})
    assert r.status_code == 403
    new_token(alice, name="keep")
    row = token_row(index, "keep")
    assert alice.post(f"{PAGE}{row.id}/revoke/").status_code == 403
    with index.db.read() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken)) == 1
    assert token_row(index, "keep").revoked_at is None


def test_token_creation_is_rate_limited(index: Index) -> None:
    alice = login_client(index, "alice")
    csrf = csrf_from(alice, PAGE)
    statuses = [
        alice.post(PAGE, data={"csrf_token": csrf, "name": ""}).status_code for _ in range(20)
    ]
    assert statuses == [400] * 20
    r = alice.post(PAGE, data={"csrf_token": csrf, "name": "one too many"})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    with index.db.read() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken)) == 0
