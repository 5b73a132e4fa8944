"""Password reset: a single-use link only to a verified address, void once the password
changes or someone logs in, three a day per account, and never a way around 2FA."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pyotp
from sqlalchemy import select, update
from starlette.testclient import TestClient

from stockade.accounts.models import AccountToken, User, UserEmail
from stockade.accounts.twofactor.factors import enable_totp, two_factor_methods
from stockade.config import Settings
from stockade.db.base import utcnow
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.web.app import create_app
from stockade.web.auth import SESSION_COOKIE
from support.index import Index, csrf_from, login_client
from support.smtp import links_in, read_outbox

RESET = "/account/reset-password/"
GOOD = "correct horse 1"  # the password of index.user()
NEW = "saffron lighthouse 77"
SENT = "a password reset link is on its way there"


def outbox(index: Index) -> list[EmailMessage]:
    return read_outbox(index.settings.data_dir / "outbox")


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def reset_mails(index: Index) -> list[EmailMessage]:
    return [m for m in outbox(index) if str(m["Subject"]).startswith("Reset your")]


def link_path(message: EmailMessage) -> str:
    [link] = [u for u in links_in(message) if RESET in u]
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def token_of(path: str) -> str:
    return path.split("token=", 1)[1]


def ask(client: TestClient, name: str) -> httpx.Response:
    data = {"csrf_token": csrf_from(client, RESET), "username": name}
    return client.post(RESET, data=data)


def set_password(
    client: TestClient, path: str, new: str, confirm: str | None = None
) -> httpx.Response:
    data = {
        "csrf_token": csrf_from(client, RESET),
        "token": token_of(path),
        "new_password": new,
        "password_confirm": new if confirm is None else confirm,
    }
    return client.post(RESET, data=data, follow_redirects=False)


def refusals(index: Index) -> list[dict[str, object]]:
    with index.db.read() as s:
        return [
            e.details
            for e in s.scalars(
                select(Event)
                .where(Event.tag == "account:password:reset:refused")
                .order_by(Event.id)
            )
        ]


def log_in(client: TestClient, username: str, password: str) -> httpx.Response:
    data = {
        "csrf_token": csrf_from(client, "/account/login/"),
        "username": username,
        "password": password,
    }
    return client.post("/account/login/", data=data, follow_redirects=False)


def test_the_login_page_links_to_the_reset_form(index: Index) -> None:
    assert f'href="{RESET}">Forgot password?</a>' in index.client.get("/account/login/").text
    page = index.client.get(RESET)
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'href="/account/recovery/"' in page.text


def test_reset_sets_the_password_and_keeps_two_factor(index: Index) -> None:
    alice = index.user("alice")
    secret = pyotp.random_base32(32)
    with index.db.write() as s:
        user = s.get(User, alice.id)
        assert user is not None
        enable_totp(s, user, secret, pyotp.TOTP(secret).now(), origin=CLI)
    logged_in = login_client(index, "alice")
    assert logged_in.get("/manage/account/", follow_redirects=False).status_code == 200

    anonymous = index.client
    page = ask(anonymous, "alice")
    assert page.status_code == 200 and SENT in page.text
    [mail] = reset_mails(index)
    assert mail["To"] == "alice@example.test"
    assert "within 6 hours" in body(mail) and "does not remove two-factor" in body(mail)
    path = link_path(mail)

    form = anonymous.get(path)
    assert form.status_code == 200 and form.headers["cache-control"] == "no-store"
    assert "Choose a new password for alice" in form.text
    # The password rules apply; a refused password leaves the link usable.
    weak = set_password(anonymous, path, "password")
    assert weak.status_code == 400 and "too easily guessed" in weak.text.lower()
    differ = set_password(anonymous, path, NEW, "something else 99")
    assert differ.status_code == 400 and "match" in differ.text

    done = set_password(anonymous, path, NEW)
    assert done.status_code == 200 and "Your password has been changed" in done.text
    # Nobody is logged in by a reset, and every session ended.
    assert SESSION_COOKIE not in done.cookies
    assert logged_in.get("/manage/account/", follow_redirects=False).status_code == 303
    changed = [m for m in outbox(index) if "password has changed" in str(m["Subject"])]
    assert [m["To"] for m in changed] == ["alice@example.test"]

    again = set_password(anonymous, path, "another long phrase 42")
    assert again.status_code == 400 and "already been used" in again.text
    assert anonymous.get(path).status_code == 400

    # The old password is gone; the new one still needs the second factor.
    assert log_in(anonymous, "alice", GOOD).status_code == 400
    second = log_in(anonymous, "alice", NEW)
    assert second.status_code == 303
    assert second.headers["location"].startswith("/account/login/two-factor/")
    assert SESSION_COOKIE not in second.cookies
    with index.db.read() as s:
        assert two_factor_methods(s, alice.id) == ["totp"]
        tags = list(s.scalars(select(Event.tag).where(Event.user_id == alice.id)))
    assert "account:password:reset:request" in tags and "account:password:reset" in tags
    assert not any(t.startswith("account:two_factor:remove") for t in tags)


def test_nothing_goes_to_an_unverified_address_and_the_answer_is_the_same(index: Index) -> None:
    bob = index.user("bob")
    with index.db.write() as s:
        s.execute(update(UserEmail).where(UserEmail.user_id == bob.id).values(verified=False))
    by_name = ask(index.client, "bob")
    by_email = ask(index.client, "bob@example.test")
    unknown = ask(index.client, "nobody-here")
    for page in (by_name, by_email, unknown):
        assert page.status_code == 200 and SENT in page.text
    assert by_name.text.replace("bob", "X") == unknown.text.replace("nobody-here", "X")
    assert reset_mails(index) == []
    assert refusals(index) == [
        {"reason": "no_verified_email", "email": None},
        {"reason": "unverified_email", "email": "bob@example.test"},
    ]
    # The refused attempts show in the account's security history.
    history = login_client(index, "bob").get("/manage/account/history/")
    assert history.text.count("account:password:reset:refused") == 2

    empty = index.client.post(RESET, data={"csrf_token": csrf_from(index.client, RESET)})
    assert empty.status_code == 400 and "Specify your username or email address." in empty.text


def test_a_link_dies_with_a_login_a_password_change_an_unverified_address_or_time(
    index: Index,
) -> None:
    alice = index.user("alice")
    paths = []
    for _ in range(3):
        assert SENT in ask(index.client, "alice@example.test").text
    paths = [link_path(m) for m in reset_mails(index)]
    assert len(paths) == 3

    # Someone logged in after the link was sent: it is void.
    with index.db.write() as s:
        s.execute(update(User).where(User.id == alice.id).values(last_login_at=utcnow()))
    void = index.client.get(paths[0])
    assert void.status_code == 400 and "no longer valid" in void.text
    assert set_password(index.client, paths[0], NEW).status_code == 400

    # The address was unverified since (e.g. by the domain check).
    with index.db.write() as s:
        s.execute(update(User).where(User.id == alice.id).values(last_login_at=None))
        s.execute(update(UserEmail).where(UserEmail.user_id == alice.id).values(verified=False))
    gone = index.client.get(paths[1])
    assert gone.status_code == 400 and "no longer verified" in gone.text
    with index.db.write() as s:
        s.execute(update(UserEmail).where(UserEmail.user_id == alice.id).values(verified=True))

    # Six hours later.
    with index.db.write() as s:
        s.execute(update(AccountToken).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    expired = index.client.get(paths[2])
    assert expired.status_code == 400 and "Expired token" in expired.text
    assert index.client.get(RESET + "?token=nonsense").status_code == 400


def test_a_password_change_voids_older_links(index: Index) -> None:
    alice = index.user("alice")
    ask(index.client, "alice")
    [mail] = reset_mails(index)
    with index.db.write() as s:
        s.execute(
            update(User)
            .where(User.id == alice.id)
            .values(password_changed_at=utcnow() + dt.timedelta(seconds=1))
        )
    page = index.client.get(link_path(mail))
    assert page.status_code == 400 and "the password was changed" in page.text


def test_three_resets_a_day_per_account(index: Index) -> None:
    index.user("alice")
    for _ in range(4):
        assert SENT in ask(index.client, "alice").text
    assert len(reset_mails(index)) == 3
    assert refusals(index) == [{"reason": "rate_limited", "email": "alice@example.test"}]


def _app_client(settings: Settings, host: str) -> Iterator[TestClient]:
    app = create_app(settings)
    try:
        with TestClient(app, base_url=f"http://{host}") as client:
            yield client
    finally:
        app.context.db.dispose()


def test_mailed_links_never_point_at_the_host_the_request_names(index: Index) -> None:
    """Host-header poisoning: without base_url, only a loopback host may be linked to; with
    base_url, the mail uses it whatever the request says."""
    index.user("bob")
    assert index.settings.base_url == ""
    for client in _app_client(index.settings, "evil.example"):
        answer = ask(client, "bob")
        assert answer.status_code == 421
        assert "Set base_url" in answer.text
    assert reset_mails(index) == []
    assert not any("evil.example" in str(m) for m in outbox(index))

    for client in _app_client(index.settings, "localhost:8000"):
        assert SENT in ask(client, "bob").text
    [local] = reset_mails(index)
    assert all(u.startswith("http://localhost:8000/") for u in links_in(local))

    configured = replace(index.settings, base_url="https://pypi.example.org")
    for client in _app_client(configured, "evil.example"):
        assert SENT in ask(client, "bob").text
    assert len(reset_mails(index)) == 2
    assert not any("evil.example" in str(m) for m in outbox(index))
    [last] = [m for m in reset_mails(index) if m is not local and "pypi.example.org" in str(m)]
    assert all(u.startswith("https://pypi.example.org/") for u in links_in(last))


def test_a_reset_or_password_change_voids_logins_waiting_for_their_second_step(
    index: Index,
) -> None:
    alice = index.user("alice")
    secret = pyotp.random_base32(32)
    with index.db.write() as s:
        user = s.get(User, alice.id)
        assert user is not None
        enable_totp(s, user, secret, pyotp.TOTP(secret).now(), origin=CLI)
    second_step = "/account/login/two-factor/"

    # Someone with the old password is at the second step when the owner resets it.
    attacker = TestClient(index.app, base_url="http://testserver")
    assert log_in(attacker, "alice", GOOD).status_code == 303
    assert attacker.get(second_step, follow_redirects=False).status_code == 200
    assert SENT in ask(index.client, "alice").text
    assert set_password(index.client, link_path(reset_mails(index)[0]), NEW).status_code == 200
    gone = attacker.get(second_step, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/account/login/"

    # The same after a password change in the account settings.
    assert log_in(attacker, "alice", NEW).status_code == 303
    assert attacker.get(second_step, follow_redirects=False).status_code == 200
    owner = login_client(index, "alice")
    changed = owner.post(
        "/manage/account/password/",
        data={
            "csrf_token": csrf_from(owner, "/manage/account/"),
            "password": NEW,
            "new_password": "another long phrase 42",
            "password_confirm": "another long phrase 42",
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303, changed.text
    gone = attacker.get(second_step, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/account/login/"
