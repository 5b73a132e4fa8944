"""Login and logout over HTTP: sessions, cookies, `next`, failures, rate limits, expiry."""

from __future__ import annotations

import dataclasses
import datetime as dt

import httpx
import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from stockade.accounts.models import User, UserSession
from stockade.config import Settings
from stockade.events.models import Event
from stockade.web.auth import SESSION_COOKIE
from support.index import Index, csrf_from, login_client

LOGIN = "/account/login/"
GOOD = "correct horse 1"  # the password of index.user()


def log_in(
    client: TestClient, username: str, password: str = GOOD, *, next: str | None = None
) -> httpx.Response:
    """Post the login form as a browser would (not following the redirect)."""
    page = LOGIN + (f"?next={next}" if next else "")
    data = {"csrf_token": csrf_from(client, page), "username": username, "password": password}
    if next is not None:
        data["next"] = next
    return client.post(LOGIN, data=data, follow_redirects=False)


def events(index: Index, tag: str) -> list[Event]:
    with index.db.read() as s:
        return list(s.scalars(select(Event).where(Event.tag == tag).order_by(Event.id)))


def sessions(index: Index) -> list[UserSession]:
    with index.db.read() as s:
        return list(s.scalars(select(UserSession).order_by(UserSession.created_at)))


def set_cookie(response: httpx.Response) -> str:
    [cookie] = [c for c in response.headers.get_list("set-cookie") if SESSION_COOKIE in c]
    return cookie


def test_login_form_fields(index: Index) -> None:
    page = index.client.get(LOGIN)
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert '<label for="username">' in page.text and '<label for="password">' in page.text
    assert '<button type="submit">' in page.text


def test_login_by_username_or_email_starts_a_session(index: Index) -> None:
    alice = index.user("alice")
    r = log_in(index.client, "Alice")
    assert r.status_code == 303
    assert r.headers["location"] == "/manage/projects/"
    cookie = set_cookie(r)
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain-HTTP base URL
    home = index.client.get("/")
    assert "Log out alice" in home.text

    [success] = events(index, "account:login:success")
    assert success.user_id == alice.id and success.actor_id == alice.id
    assert success.ip_address == "testclient"
    with index.db.read() as s:
        user = s.get(User, alice.id)
        assert user is not None and user.last_login_at is not None

    other = TestClient(index.app, base_url="http://testserver")
    assert log_in(other, "ALICE@example.test").status_code == 303
    assert len(events(index, "account:login:success")) == 2


def test_login_rotates_the_session(index: Index) -> None:
    index.user("alice")
    client = TestClient(index.app, base_url="http://testserver")
    log_in(client, "alice")
    old = client.cookies[SESSION_COOKIE]
    # Logging in again from a logged-in browser (say, a second tab).
    data = {"csrf_token": csrf_from(client, "/"), "username": "alice", "password": GOOD}
    r = client.post(LOGIN, data=data, follow_redirects=False)
    assert r.status_code == 303
    new = client.cookies[SESSION_COOKIE]
    assert new != old
    rows = sessions(index)
    assert len(rows) == 2
    assert rows[0].revoked_at is not None  # the session the browser had is over
    assert rows[1].revoked_at is None
    stale = TestClient(index.app, base_url="http://testserver", cookies={SESSION_COOKIE: old})
    assert stale.get("/manage/account/", follow_redirects=False).status_code == 303


def test_wrong_password_and_unknown_user_look_the_same(index: Index) -> None:
    alice = index.user("alice")
    wrong = log_in(index.client, "alice", "not the password")
    unknown = log_in(index.client, "nobody", GOOD)
    for r in (wrong, unknown):
        assert r.status_code == 400
        assert "The username or password is invalid. Try again." in r.text
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
        assert 'value="not the password"' not in r.text
    failures = events(index, "account:login:failure")
    assert [(e.user_id, e.details["reason"]) for e in failures] == [
        (alice.id, "invalid_password"),
        (None, "unknown_user"),
    ]
    assert sessions(index) == []


def test_disabled_account_cannot_log_in(index: Index) -> None:
    alice = index.user("alice")
    with index.db.write() as s:
        s.execute(update(User).where(User.id == alice.id).values(is_active=False))
    r = log_in(index.client, "alice")
    assert r.status_code == 400
    assert "The username or password is invalid. Try again." in r.text
    assert sessions(index) == []
    [failure] = events(index, "account:login:failure")
    assert failure.user_id == alice.id and failure.details["reason"] == "disabled"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/project/demo/", "/project/demo/"),
        ("/manage/account/?x=1", "/manage/account/?x=1"),
        ("//evil.example/", "/manage/projects/"),
        ("https://evil.example/", "/manage/projects/"),
        ("/\\evil.example", "/manage/projects/"),
        ("javascript:alert(1)", "/manage/projects/"),
        ("/%0d%0aSet-Cookie:x=1", "/%0d%0aSet-Cookie:x=1"),
    ],
)
def test_next_only_goes_to_local_paths(index: Index, target: str, expected: str) -> None:
    index.user("alice")
    r = log_in(index.client, "alice", next=target)
    assert r.status_code == 303
    assert r.headers["location"] == expected


def test_next_survives_a_failed_attempt(index: Index) -> None:
    index.user("alice")
    page = index.client.get(f"{LOGIN}?next=/manage/account/")
    assert 'name="next" value="/manage/account/"' in page.text
    failed = log_in(index.client, "alice", "wrong", next="/manage/account/")
    assert 'name="next" value="/manage/account/"' in failed.text
    assert index.client.get(f"{LOGIN}?next=//evil.example").text.count('name="next"') == 0


def test_protected_page_round_trip(index: Index) -> None:
    index.user("alice")
    r = index.client.get("/manage/account/", follow_redirects=False)
    assert r.headers["location"] == "/account/login/?next=/manage/account/"
    done = log_in(index.client, "alice", next="/manage/account/")
    assert done.headers["location"] == "/manage/account/"
    assert index.client.get("/manage/account/").status_code == 200
    # A logged-in visit to the login page goes straight on.
    again = index.client.get(f"{LOGIN}?next=/manage/account/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/manage/account/"


def test_logout_ends_the_session_on_the_server(index: Index) -> None:
    client = login_client(index, "alice")
    cookie = client.cookies[SESSION_COOKIE]
    assert client.get("/account/logout/").status_code == 200  # a confirmation form
    token = csrf_from(client, "/")
    r = client.post("/account/logout/", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert 'stockade_session=""' in set_cookie(r) or "max-age=0" in set_cookie(r).lower()
    [row] = sessions(index)
    assert row.revoked_at is not None
    # Replaying the cookie does not help.
    replay = TestClient(index.app, base_url="http://testserver", cookies={SESSION_COOKIE: cookie})
    assert replay.get("/manage/account/", follow_redirects=False).status_code == 303


def test_logout_needs_csrf(index: Index) -> None:
    client = login_client(index, "alice")
    assert client.post("/account/logout/").status_code == 403
    [row] = sessions(index)
    assert row.revoked_at is None


def test_login_without_csrf_is_refused(index: Index) -> None:
    index.user("alice")
    index.client.get(LOGIN)
    r = index.client.post(LOGIN, data={"username": "alice", "password": GOOD})
    assert r.status_code == 403
    assert sessions(index) == []
    assert events(index, "account:login:success") == []


def test_login_is_rate_limited_per_account(index: Index) -> None:
    alice = index.user("alice")
    # Fixed windows: allow for one ending mid-test.
    for _ in range(21):
        r = log_in(index.client, "alice", "wrong guess")
        if r.status_code == 429:
            break
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    # Even the right password is refused now, from a fresh client.
    other = TestClient(index.app, base_url="http://testserver")
    assert log_in(other, "alice").status_code == 429
    reasons = [e.details["reason"] for e in events(index, "account:login:failure")]
    assert reasons[-1] == "rate_limited"
    assert all(e.user_id == alice.id for e in events(index, "account:login:failure"))


def test_login_is_rate_limited_per_ip(index: Index) -> None:
    # Every attempt counts, even one the form alone refuses (which keeps this test fast).
    for i in range(61):
        r = log_in(index.client, f"nobody{i}", "")
        if r.status_code == 429:
            break
    assert r.status_code == 429, i
    assert i >= 30
    assert int(r.headers["retry-after"]) > 0


def test_secure_cookie_behind_https(settings: Settings) -> None:
    with Index.open(dataclasses.replace(settings, base_url="https://pypi.example.org")) as index:
        index.user("alice")
        r = log_in(index.client, "alice")
        assert r.status_code == 303
        cookie = set_cookie(r).lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_idle_sessions_expire(index: Index) -> None:
    client = login_client(index, "alice")
    assert client.get("/manage/account/", follow_redirects=False).status_code == 200
    with index.db.write() as s:
        s.execute(
            update(UserSession).values(
                last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=12, minutes=1)
            )
        )
    r = client.get("/manage/account/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/account/login/")


def test_recently_active_sessions_live_on(index: Index) -> None:
    client = login_client(index, "alice")
    with index.db.write() as s:
        s.execute(
            update(UserSession).values(
                last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=11)
            )
        )
    assert client.get("/manage/account/", follow_redirects=False).status_code == 200
    [row] = sessions(index)
    # The visit counted as activity.
    assert dt.datetime.now(dt.UTC) - row.last_seen_at < dt.timedelta(minutes=1)
