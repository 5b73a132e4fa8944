"""The project-management pages: your projects, a project's overview, collaborators, history;
and the invitation mail delivered over real SMTP."""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from stockade.accounts.models import User
from stockade.config import Settings
from stockade.events.services import CLI
from stockade.index.models import Project, Release
from stockade.index.roles import add_role
from support.builders import metadata_text, wheel_bytes, wheel_name
from support.index import Index, csrf_from, free_port, login_client


def create_project(index: Index, name: str, owner: str, *, extra: str = "") -> None:
    metadata = metadata_text(name, "1.0", extra=extra)
    r = index.upload(
        wheel_bytes(name, "1.0", metadata=metadata),
        wheel_name(name, "1.0"),
        token=index.token(owner),
    )
    assert r.status_code == 200, r.text


def give_role(index: Index, project: str, username: str, role: str) -> None:
    index.user(username)
    with index.db.write() as s:
        found = s.scalars(select(Project).where(Project.normalized_name == project)).one()
        user = s.scalars(select(User).where(User.username == username)).one()
        add_role(s, project=found, user=user, role_name=role, origin=CLI)


def post(client: Any, path: str, **fields: str) -> Any:
    token = csrf_from(client, "/")
    return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def main_of(html: str) -> str:
    """The page's <main> element, without style sheets."""
    found = re.search(r"<main\b.*?</main>", html, flags=re.S)
    assert found, html
    return re.sub(r"<style\b.*?</style>", "", found.group(0), flags=re.S)


def text_of(html: str) -> str:
    """The words of the page's main content, without tags or extra whitespace."""
    return " ".join(re.sub(r"<[^>]+>", " ", main_of(html)).split())


def test_projects_page_lists_roles_and_pending_invitations(index: Index) -> None:
    create_project(index, "demo", "alice")
    create_project(index, "other", "olga")
    give_role(index, "demo", "bob", "Maintainer")
    post(
        login_client(index, "olga"),
        "/manage/project/other/roles/invite/",
        username="bob",
        role_name="Owner",
    )
    bob = login_client(index, "bob")
    page = bob.get("/manage/projects/")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Projects you maintain" in words
    assert "demo Maintainer Manage demo · View demo" in words
    assert "Pending invitations" in words
    assert "other Owner olga" in words
    assert re.search(r'action="/manage/invitations/\d+/accept/"', page.text)
    assert re.search(r'action="/manage/invitations/\d+/decline/"', page.text)
    # Every form carries the CSRF token.
    main = main_of(page.text)
    assert main.count('name="csrf_token"') == main.count('<form method="post"') == 2
    # Someone without projects is told how to get one.
    nobody = login_client(index, "nobody")
    assert "You have no projects yet." in nobody.get("/manage/projects/").text
    # Anonymous visitors are sent to log in and come back.
    r = index.client.get("/manage/projects/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/account/login/?next=/manage/projects/"


def test_overview_shows_releases_links_and_maintainers(index: Index) -> None:
    extra = (
        "Project-URL: Source, https://example.test/src\n"
        "Project-URL: Docs, https://docs.example.test/\n"
    )
    create_project(index, "Demo_Pkg", "alice", extra=extra)
    r = index.upload(
        wheel_bytes("Demo_Pkg", "2.0"), wheel_name("Demo_Pkg", "2.0"), token=index.token("alice")
    )
    assert r.status_code == 200
    give_role(index, "demo-pkg", "bob", "Maintainer")
    bob = login_client(index, "bob")
    page = bob.get("/manage/project/demo-pkg/")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Manage Demo_Pkg" in words
    assert "Your role: Maintainer." in words
    assert words.index("2.0") < words.index("1.0")  # newest first
    # The links are the newest release's (2.0 has none).
    assert "The newest release names no project links." in words
    assert "alice (Owner)" in words and "bob (Maintainer)" in words
    assert 'aria-current="page"' in page.text
    # Non-normalized names lead to the canonical page.
    r = bob.get("/manage/project/Demo_Pkg/", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == "/manage/project/demo-pkg/"


def test_overview_links_are_http_only(index: Index) -> None:
    extra = "Project-URL: Source, https://example.test/src\n"
    create_project(index, "demo", "alice", extra=extra)
    with index.db.write() as s:
        release = s.scalars(select(Release)).one()
        meta = dict(release.metadata_json)
        meta["project_urls"] = {**meta["project_urls"], "Trap": "javascript:alert(1)"}
        meta["home_page"] = "https://home.example.test/"
        s.execute(update(Release).values(metadata_json=meta))
    page = login_client(index, "alice").get("/manage/project/demo/").text
    assert '<a href="https://example.test/src" rel="nofollow noopener">Source</a>' in page
    assert '<a href="https://home.example.test/" rel="nofollow noopener">Homepage</a>' in page
    assert "javascript:" not in page and "Trap" not in page


def test_roles_page_for_owner_admin_and_maintainer(index: Index) -> None:
    create_project(index, "demo", "alice")
    give_role(index, "demo", "bob", "Maintainer")
    index.user("root", admin=True)
    owner = login_client(index, "alice").get("/manage/project/demo/roles/").text
    assert 'action="/manage/project/demo/roles/invite/"' in owner
    assert '<label for="invite-username">Username</label>' in owner
    assert "/change/" in owner and "/remove/" in owner
    assert 'action="/manage/project/demo/roles/leave/"' in owner
    # Owners first.
    assert text_of(owner).index("alice Owner") < text_of(owner).index("bob Maintainer")

    admin = login_client(index, "root").get("/manage/project/demo/roles/").text
    assert "You are an administrator without a role on this project." in text_of(admin)
    assert "/roles/invite/" in admin
    assert "/roles/leave/" not in admin

    maintainer = login_client(index, "bob").get("/manage/project/demo/roles/").text
    assert "/roles/invite/" not in maintainer and "/change/" not in maintainer
    assert "/roles/leave/" in maintainer


def test_notices_are_chosen_by_code_not_copied_from_the_url(index: Index) -> None:
    create_project(index, "demo", "alice")
    alice = login_client(index, "alice")
    ok = alice.get("/manage/project/demo/roles/?done=invited&who=bob").text
    assert '<p class="notice" role="status">Invitation sent to &#39;bob&#39;.</p>' in ok
    for query in (
        "done=Your+account+is+suspended&who=bob",
        "done=invited&who=%3Cscript%3Ealert(1)%3C/script%3E",
        "done=invited&who=visit+evil.example",
        "done=invited",
    ):
        page = alice.get(f"/manage/project/demo/roles/?{query}").text
        assert 'class="notice"' not in page, query
        assert "suspended" not in page and "evil.example" not in page and "<script>" not in page


def test_history_page_shows_project_events(index: Index) -> None:
    create_project(index, "demo", "alice")
    index.user("bob")
    alice = login_client(index, "alice")
    post(alice, "/manage/project/demo/roles/invite/", username="bob", role_name="Maintainer")
    page = alice.get("/manage/project/demo/history/")
    assert page.status_code == 200
    assert "<caption>Security history of demo</caption>" in page.text
    rows = re.findall(r'<tr data-tag="([^"]+)">(.*?)</tr>', page.text, flags=re.S)
    # Newest first: the invitation, then the upload that created the project.
    tags = [tag for tag, _ in rows]
    assert tags[0] == "project:role:invite"
    assert {"project:create", "project:role:add"} <= set(tags)
    invite_row = " ".join(re.sub(r"<[^>]+>", " ", rows[0][1]).split())
    assert "alice" in invite_row and "testclient" in invite_row
    assert "Username: bob" in invite_row and "Role: Maintainer" in invite_row
    # Another project's events do not show.
    create_project(index, "elsewhere", "alice")
    page = alice.get("/manage/project/demo/history/").text
    assert "elsewhere" not in page


class Sink:
    """Collects what a real SMTP server on loopback receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.received = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        self.received.set()
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def test_invitation_mail_is_sent_over_smtp_after_commit(
    settings: Settings, smtp: tuple[Sink, int]
) -> None:
    sink, port = smtp
    with Index.open(replace(settings, mail_url=f"smtp://127.0.0.1:{port}")) as index:
        create_project(index, "demo", "alice")
        index.user("bob")
        alice = login_client(index, "alice")
        # A refused invitation sends nothing.
        r = post(alice, "/manage/project/demo/roles/invite/", username="ghost", role_name="Owner")
        assert r.status_code == 400
        assert sink.messages == []
        r = post(alice, "/manage/project/demo/roles/invite/", username="bob", role_name="Owner")
        assert r.status_code == 303
        assert sink.received.wait(10)
    [message] = sink.messages
    assert message["To"] == "bob@example.test"
    assert message["Subject"] == "[stockade] You have been invited to join demo"
    body = message.get_content()
    assert "alice has invited you to join the project demo as Owner" in body
    assert "http://testserver/manage/projects/" in body
