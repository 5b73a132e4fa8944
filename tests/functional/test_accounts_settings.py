"""Account settings over HTTP: profile, email addresses, password change, security history,
and the whole journey from registration to a changed password."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from starlette.testclient import TestClient

from stockade.accounts.models import User, UserEmail, UserSession
from stockade.events.models import Event
from stockade.web.auth import SESSION_COOKIE
from support.index import Index, csrf_from, login_client
from support.smtp import links_in, read_outbox

ACCOUNT = "/manage/account/"
GOOD = "correct horse 1"  # the password of index.user()
NEW = "saffron lighthouse 77"


def post(client: TestClient, action: str, **fields: str) -> httpx.Response:
    """Post one of the settings forms with the page's CSRF token (not following redirects)."""
    data = {"csrf_token": csrf_from(client, ACCOUNT), **fields}
    return client.post(action, data=data, follow_redirects=False)


def outbox(index: Index) -> list[EmailMessage]:
    return read_outbox(index.settings.data_dir / "outbox")


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def verify_path(message: EmailMessage) -> str:
    [link] = [u for u in links_in(message) if "/account/verify-email/" in u]
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def emails(index: Index, user: str = "alice") -> dict[str, UserEmail]:
    with index.db.read() as s:
        rows = s.scalars(
            select(UserEmail).join(User).where(User.username_lower == user).order_by(UserEmail.id)
        )
        return {e.email: e for e in rows}


def email_id(index: Index, address: str) -> str:
    return str(emails(index)[address].id)


def tags(index: Index) -> list[str]:
    with index.db.read() as s:
        return list(s.scalars(select(Event.tag).order_by(Event.id)))


def event(index: Index, tag: str) -> Event:
    with index.db.read() as s:
        found = s.scalars(select(Event).where(Event.tag == tag).order_by(Event.id.desc())).first()
        assert found is not None, tag
        return found


def test_anonymous_visitors_are_sent_to_log_in(index: Index) -> None:
    for path in (ACCOUNT, ACCOUNT + "history/"):
        r = index.client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == f"/account/login/?next={path}"


def test_settings_page(index: Index) -> None:
    alice = login_client(index, "alice")
    page = alice.get(ACCOUNT)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "<strong>alice</strong>" in html
    assert "alice@example.test" in html
    assert "Primary</span>" in html and "Verified</span>" in html
    # The only address can be neither removed nor made primary.
    assert "/manage/account/emails/remove/" not in html
    assert "/manage/account/emails/primary/" not in html
    assert 'href="/manage/account/tokens/"' in html
    assert 'href="/manage/account/history/"' in html
    assert 'data-tag="account:create"' in html  # the event table
    for field in ('name="full_name"', 'name="email"', 'name="new_password"'):
        assert field in html
    history = alice.get(ACCOUNT + "history/")
    assert history.status_code == 200
    assert 'data-tag="account:create"' in history.text


def test_profile(index: Index) -> None:
    alice = login_client(index, "alice")
    r = post(alice, ACCOUNT + "profile/", full_name="Alice Liddell")
    assert r.status_code == 303
    assert r.headers["location"] == ACCOUNT + "?done=profile"
    assert "Your profile was updated." in alice.get(r.headers["location"]).text
    with index.db.read() as s:
        assert s.scalar(select(User.full_name).where(User.username == "alice")) == "Alice Liddell"
    long = post(alice, ACCOUNT + "profile/", full_name="x" * 101)
    assert long.status_code == 400
    assert "The name is too long." in long.text


def test_add_verify_make_primary_remove(index: Index) -> None:
    alice = login_client(index, "alice")
    added = post(alice, ACCOUNT + "emails/add/", email="Alice@Work.example")
    assert added.status_code == 303
    page = alice.get(added.headers["location"]).text
    assert "Email Alice@Work.example added - check your email for a verification link." in page
    assert "Unverified</span>" in page
    assert not emails(index)["Alice@Work.example"].verified
    assert event(index, "account:email:add").details["email"] == "Alice@Work.example"

    # Unverified: it cannot be primary.
    early = post(alice, ACCOUNT + "emails/primary/", email_id=email_id(index, "Alice@Work.example"))
    assert early.status_code == 400
    assert "verify the address first" in early.text

    [message] = outbox(index)
    assert message["To"] == "Alice@Work.example"
    assert alice.get(verify_path(message)).status_code == 200
    assert emails(index)["Alice@Work.example"].verified

    primary = post(
        alice, ACCOUNT + "emails/primary/", email_id=email_id(index, "Alice@Work.example")
    )
    assert primary.status_code == 303
    assert "set as primary" in alice.get(primary.headers["location"]).text
    rows = emails(index)
    assert rows["Alice@Work.example"].primary and not rows["alice@example.test"].primary
    change = event(index, "account:email:primary:change")
    assert change.details == {
        "old_primary": "alice@example.test",
        "new_primary": "Alice@Work.example",
    }
    # The previous address is told.
    notice = outbox(index)[-1]
    assert notice["To"] == "alice@example.test"
    assert "Alice@Work.example" in body(notice)

    # The primary cannot go; the old one can.
    refused = post(
        alice, ACCOUNT + "emails/remove/", email_id=email_id(index, "Alice@Work.example")
    )
    assert refused.status_code == 400
    assert "Cannot remove your primary email address." in refused.text
    removed = post(
        alice, ACCOUNT + "emails/remove/", email_id=email_id(index, "alice@example.test")
    )
    assert removed.status_code == 303
    assert list(emails(index)) == ["Alice@Work.example"]
    assert event(index, "account:email:remove").details["email"] == "alice@example.test"


def test_add_email_refusals(index: Index) -> None:
    index.user("bob")
    alice = login_client(index, "alice")
    for address, message in [
        ("nope", "The email address isn&#39;t valid."),
        ("ALICE@example.test", "already being used by this account"),
        ("bob@example.test", "already being used by another account"),
    ]:
        r = post(alice, ACCOUNT + "emails/add/", email=address)
        assert r.status_code == 400, address
        assert message in r.text
        assert 'id="add_email-error"' in r.text
    assert list(emails(index)) == ["alice@example.test"]
    assert outbox(index) == []


def test_someone_elses_address_is_not_found(index: Index) -> None:
    index.user("bob")
    alice = login_client(index, "alice")
    with index.db.read() as s:
        bobs = s.scalar(select(UserEmail.id).where(UserEmail.email == "bob@example.test"))
    for action in ("remove", "primary", "resend"):
        r = post(alice, ACCOUNT + f"emails/{action}/", email_id=str(bobs))
        assert r.status_code == 400
        assert "Email address not found." in r.text
    assert "bob@example.test" in emails(index, "bob")


def test_resend_verification(index: Index) -> None:
    alice = login_client(index, "alice")
    post(alice, ACCOUNT + "emails/add/", email="second@example.test")
    second = email_id(index, "second@example.test")
    r = post(alice, ACCOUNT + "emails/resend/", email_id=second)
    assert r.status_code == 303
    assert (
        "Verification email for second@example.test resent."
        in alice.get(r.headers["location"]).text
    )
    first, again = outbox(index)
    assert verify_path(first) != verify_path(again)
    assert alice.get(verify_path(again)).status_code == 200
    # Verified now: nothing more to send.
    done = post(alice, ACCOUNT + "emails/resend/", email_id=second)
    assert done.status_code == 400
    assert "Email is already verified." in done.text
    # The older link still works once, and says so.
    older = alice.get(verify_path(first))
    assert older.status_code == 200 and "already verified" in older.text


def test_verification_mail_is_rate_limited(index: Index) -> None:
    alice = login_client(index, "alice")
    post(alice, ACCOUNT + "emails/add/", email="second@example.test")
    second = email_id(index, "second@example.test")
    # 5 an hour, the add included; fixed windows, so allow for one ending mid-test.
    for _ in range(11):
        r = post(alice, ACCOUNT + "emails/resend/", email_id=second)
        if r.status_code == 429:
            break
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert len(outbox(index)) <= 10


def test_password_change_refusals(index: Index) -> None:
    alice = login_client(index, "alice")
    cases = [
        ({"password": "wrong", "new_password": NEW, "password_confirm": NEW}, "pw_password",
         "The password is invalid. Try again."),
        ({"password": GOOD, "new_password": "alice123", "password_confirm": "alice123"},
         "pw_new_password", "Password is too easily guessed."),
        ({"password": GOOD, "new_password": NEW, "password_confirm": NEW + "x"},
         "pw_password_confirm", "Your passwords don&#39;t match."),
    ]  # fmt: skip
    for fields, field, message in cases:
        r = post(alice, ACCOUNT + "password/", **fields)
        assert r.status_code == 400
        assert message in r.text
        assert f'id="{field}-error"' in r.text
        assert NEW not in r.text
    assert "account:password:change" not in tags(index)
    assert outbox(index) == []


def test_password_notice_goes_only_to_a_verified_primary(index: Index) -> None:
    alice = login_client(index, "alice")
    with index.db.write() as s:
        s.execute(update(UserEmail).values(verified=False))
    fields = {"password": GOOD, "new_password": NEW, "password_confirm": NEW}
    assert post(alice, ACCOUNT + "password/", **fields).status_code == 303
    assert "account:password:change" in tags(index)
    assert outbox(index) == []


def test_password_change_without_csrf_is_refused(index: Index) -> None:
    alice = login_client(index, "alice")
    fields = {"password": GOOD, "new_password": NEW, "password_confirm": NEW}
    r = alice.post(ACCOUNT + "password/", data=fields, follow_redirects=False)
    assert r.status_code == 403
    other = login_client(index, "bob")
    # bob's token is no good for alice's session.
    stolen = {"csrf_token": csrf_from(other, ACCOUNT), **fields}
    r = alice.post(ACCOUNT + "password/", data=stolen, follow_redirects=False)
    assert r.status_code == 403
    assert "account:password:change" not in tags(index)


def log_in(client: TestClient, username: str, password: str) -> httpx.Response:
    data = {
        "csrf_token": csrf_from(client, "/account/login/"),
        "username": username,
        "password": password,
    }
    return client.post("/account/login/", data=data, follow_redirects=False)


def test_full_journey_register_verify_login_change_password(index: Index) -> None:
    browser = index.client
    # Register.
    data = {
        "csrf_token": csrf_from(browser, "/account/register/"),
        "username": "dora",
        "full_name": "Dora",
        "email": "dora@example.test",
        "password": "marmalade quasar 9",
        "password_confirm": "marmalade quasar 9",
    }
    assert browser.post("/account/register/", data=data).status_code == 200
    # The mail arrives with a working link.
    [mail] = outbox(index)
    verified = browser.get(verify_path(mail))
    assert verified.status_code == 200 and "verified" in verified.text
    # Log in.
    assert log_in(browser, "dora", "marmalade quasar 9").status_code == 303
    first_cookie = browser.cookies[SESSION_COOKIE]
    laptop = TestClient(index.app, base_url="http://testserver")
    assert log_in(laptop, "dora@example.test", "marmalade quasar 9").status_code == 303
    laptop_cookie = laptop.cookies[SESSION_COOKIE]
    page = browser.get(ACCOUNT).text
    assert "Verified</span>" in page and "account:login:success" in page

    # Change the password.
    fields = {"password": "marmalade quasar 9", "new_password": NEW, "password_confirm": NEW}
    changed = post(browser, ACCOUNT + "password/", **fields)
    assert changed.status_code == 303
    assert changed.headers["location"] == ACCOUNT + "?done=password"
    new_cookie = browser.cookies[SESSION_COOKIE]
    assert new_cookie not in (first_cookie, laptop_cookie)
    assert "Your password was changed." in browser.get(changed.headers["location"]).text

    # The old session and the other device are out; this browser stays in.
    for cookie in (first_cookie, laptop_cookie):
        stale = TestClient(
            index.app, base_url="http://testserver", cookies={SESSION_COOKIE: cookie}
        )
        assert stale.get(ACCOUNT, follow_redirects=False).status_code == 303
    assert browser.get(ACCOUNT, follow_redirects=False).status_code == 200
    with index.db.read() as s:
        live = s.scalars(select(UserSession).where(UserSession.revoked_at.is_(None))).all()
        assert len(live) == 1

    # The primary address is told; the event is in the history.
    notice = outbox(index)[-1]
    assert notice["To"] == "dora@example.test"
    assert "password" in notice["Subject"].lower()
    history = browser.get(ACCOUNT + "history/").text
    assert 'data-tag="account:password:change"' in history
    assert event(index, "account:password:change").ip_address == "testclient"

    # Only the new password works.
    fresh = TestClient(index.app, base_url="http://testserver")
    assert log_in(fresh, "dora", "marmalade quasar 9").status_code == 400
    assert log_in(fresh, "dora", NEW).status_code == 303


def test_disabled_account_is_logged_out_of_settings(index: Index) -> None:
    alice = login_client(index, "alice")
    with index.db.write() as s:
        s.execute(update(User).where(User.username == "alice").values(is_active=False))
    r = alice.get(ACCOUNT, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/account/login/")
