"""Registration and email verification over HTTP: forms, rules, mail (outbox and real SMTP)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from stockade.accounts.models import AccountToken, User, UserEmail
from stockade.config import Settings
from stockade.events.models import Event
from support.index import Index, csrf_from
from support.smtp import links_in, read_outbox, smtp_sink

REGISTER = "/account/register/"
PASSWORD = "tangerine vortex 42"


def register(client: TestClient, **fields: str) -> httpx.Response:
    """Fill in and post the registration form as a browser would."""
    data = {
        "csrf_token": csrf_from(client, REGISTER),
        "username": "carol",
        "full_name": "Carol Example",
        "email": "carol@example.test",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        **fields,
    }
    return client.post(REGISTER, data=data)


def outbox(index: Index) -> list[EmailMessage]:
    return read_outbox(index.settings.data_dir / "outbox")


def verification_link(message: EmailMessage) -> str:
    [link] = [u for u in links_in(message) if "/account/verify-email/" in u]
    return link


def relative(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def events(index: Index, tag: str) -> list[Event]:
    with index.db.read() as s:
        return list(s.scalars(select(Event).where(Event.tag == tag).order_by(Event.id)))


def carol_email(index: Index) -> UserEmail:
    with index.db.read() as s:
        row = s.scalar(select(UserEmail).where(UserEmail.email_lower == "carol@example.test"))
        assert row is not None
        return row


def test_register_form_fields_and_labels(index: Index) -> None:
    page = index.client.get(REGISTER)
    assert page.status_code == 200
    for name in ("username", "full_name", "email", "password", "password_confirm"):
        assert f'name="{name}"' in page.text
        assert f'<label for="{name}"' in page.text
    assert '<button type="submit">' in page.text
    assert 'name="csrf_token"' in page.text


def test_registration_mails_a_link_that_verifies_once(index: Index) -> None:
    r = register(index.client)
    assert r.status_code == 200, r.text
    assert "verification email was sent" in r.text
    assert "carol@example.test" in r.text

    with index.db.read() as s:
        user = s.scalar(select(User).where(User.username_lower == "carol"))
        assert user is not None
        assert user.full_name == "Carol Example"
        assert user.last_login_at is None
        [email] = user.emails
        assert email.primary and not email.verified
        [token] = s.scalars(select(AccountToken))
        assert token.purpose == "verify-email" and token.subject_id == email.id
        lifetime = token.expires_at - token.created_at
        assert lifetime == dt.timedelta(hours=24)

    [message] = outbox(index)
    assert message["To"] == "carol@example.test"
    link = verification_link(message)
    assert link.startswith("http://testserver/account/verify-email/?token=")
    secret = parse_qs(urlsplit(link).query)["token"][0]
    # Only the hash is stored.
    assert secret not in token.secret_sha256

    done = index.client.get(relative(link))
    assert done.status_code == 200
    assert "Email address carol@example.test verified." in done.text
    assert carol_email(index).verified
    assert carol_email(index).verified_at is not None
    [verified] = events(index, "account:email:verified")
    assert verified.details["email"] == "carol@example.test"
    assert verified.user_id == user.id
    [added] = events(index, "account:email:add")
    assert added.user_id == user.id
    assert [e.user_id for e in events(index, "account:create")] == [user.id]

    again = index.client.get(relative(link))
    assert again.status_code == 400
    assert "already been used" in again.text
    assert len(events(index, "account:email:verified")) == 1


def test_registered_user_is_not_logged_in_yet(index: Index) -> None:
    r = register(index.client)
    assert r.status_code == 200
    assert "stockade_session" not in index.client.cookies
    assert index.client.get("/account/login/").status_code == 200


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "x" * 500, "%00", "a" * 43],
)
def test_bad_tokens_get_a_clear_400(index: Index, token: str) -> None:
    r = index.client.get(f"/account/verify-email/?token={token}")
    assert r.status_code == 400
    if token == "%00":
        # Refused before any route, as every URL with a NUL is (PostgreSQL cannot store one).
        assert r.text.strip() == "Bad Request: the URL contains a NUL character."
    else:
        assert "Invalid token: request a new email verification link." in r.text


def test_expired_token(index: Index) -> None:
    register(index.client)
    link = verification_link(outbox(index)[0])
    with index.db.write() as s:
        s.execute(
            update(AccountToken).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    r = index.client.get(relative(link))
    assert r.status_code == 400
    assert "Expired token: request a new email verification link." in r.text
    assert not carol_email(index).verified


def test_token_for_a_removed_address_does_not_verify(index: Index) -> None:
    register(index.client)
    link = verification_link(outbox(index)[0])
    with index.db.write() as s:
        email = s.scalar(select(UserEmail).where(UserEmail.email_lower == "carol@example.test"))
        assert email is not None
        # The address is detached from its id (as if removed and added again).
        email.id = email.id + 1000
    r = index.client.get(relative(link))
    assert r.status_code == 400
    assert not events(index, "account:email:verified")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "-carol"}, "username", "The username is invalid."),
        ({"username": "caról"}, "username", "The username is invalid."),
        ({"username": "c" * 51}, "username", "The username is invalid."),
        ({"username": ""}, "username", "Specify a username."),
        ({"email": "not-an-address"}, "email", "The email address isn&#39;t valid."),
        ({"password": "short", "password_confirm": "short"}, "password", "too short"),
        (
            {"password": "password123", "password_confirm": "password123"},
            "password",
            "Password is too easily guessed.",
        ),
        # The username itself is a known word to the strength check.
        (
            {
                "username": "zebracrossing",
                "password": "zebracrossing1",
                "password_confirm": "zebracrossing1",
            },
            "password",
            "Password is too easily guessed.",
        ),
        ({"password_confirm": "something else"}, "password_confirm", "passwords don&#39;t match"),
        ({"full_name": "x" * 101}, "full_name", "The name is too long."),
    ],
)
def test_registration_rules(index: Index, fields: dict[str, str], field: str, message: str) -> None:
    r = register(index.client, **fields)
    assert r.status_code == 400
    assert message in r.text
    assert f'id="{field}-error"' in r.text
    assert f'<a href="#{field}">' in r.text  # the summary links to the field
    with index.db.read() as s:
        assert s.scalar(select(User).where(User.username_lower == "carol")) is None
    assert outbox(index) == []
    # What was typed is kept, except passwords.
    if field != "username" and "username" not in fields:
        assert 'value="carol"' in r.text
    assert PASSWORD not in r.text


def test_every_problem_is_reported_at_once(index: Index) -> None:
    r = register(index.client, username="_x", email="nope", password_confirm="other")
    assert r.status_code == 400
    for field in ("username", "email", "password_confirm"):
        assert f'id="{field}-error"' in r.text


def test_username_and_email_are_unique_case_insensitively(index: Index) -> None:
    index.user("carol")  # carol@example.test
    r = register(index.client, username="CAROL", email="CAROL@Example.test")
    assert r.status_code == 400
    assert "This username is already being used by another account." in r.text
    assert "This email address is already being used by another account." in r.text


def test_logged_in_users_are_sent_home(index: Index) -> None:
    from support.index import login_client

    client = login_client(index, "alice")
    assert client.get(REGISTER, follow_redirects=False).headers["location"] == "/"


def test_registration_without_csrf_is_refused(index: Index) -> None:
    index.client.get(REGISTER)  # the anonymous CSRF cookie exists, the token is missing
    data = {"username": "carol", "email": "carol@example.test", "password": PASSWORD}
    r = index.client.post(REGISTER, data={**data, "password_confirm": PASSWORD})
    assert r.status_code == 403
    wrong = index.client.post(REGISTER, data={**data, "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    with index.db.read() as s:
        assert s.scalar(select(User).where(User.username_lower == "carol")) is None


def test_registration_is_rate_limited_per_ip(index: Index) -> None:
    # Windows are fixed: if one ends mid-test the count restarts, so allow two windows' worth.
    statuses = []
    for i in range(21):
        r = register(index.client, username=f"user{i}", email=f"user{i}@example.test")
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert int(r.headers["retry-after"]) > 0


def test_verification_mail_arrives_over_smtp(settings: Settings) -> None:
    with smtp_sink() as sink:
        smtp_settings = dataclasses.replace(
            settings, mail_url=sink.url(), base_url="https://pypi.example.org"
        )
        with Index.open(smtp_settings) as index:
            r = register(index.client)
            assert r.status_code == 200
            [message] = sink.wait_for(1)
            assert message["To"] == "carol@example.test"
            assert "Verify your email address" in message["Subject"]
            link = verification_link(message)
            # The link is absolute, on the configured public URL.
            assert link.startswith("https://pypi.example.org/account/verify-email/?token=")
            done = index.client.get(relative(link))
            assert done.status_code == 200
            assert carol_email(index).verified
            assert not (settings.data_dir / "outbox").exists()


def test_unreachable_mail_server_still_creates_the_account(settings: Settings) -> None:
    from support.index import free_port

    broken = dataclasses.replace(settings, mail_url=f"smtp://127.0.0.1:{free_port()}")
    with Index.open(broken) as index:
        r = register(index.client)
        assert r.status_code == 200
        assert "could not be sent" in r.text
        assert carol_email(index) is not None
