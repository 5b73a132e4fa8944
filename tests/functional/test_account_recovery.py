"""Account recovery for a user who lost every second factor: the request, the admin queue,
approval (factors removed, password reset forced, sessions ended, mail, events) and rejection."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pyotp
from sqlalchemy import select
from starlette.testclient import TestClient

from stockade.accounts.models import User, UserSession
from stockade.accounts.recovery.models import RecoveryRequest
from stockade.accounts.recovery.requests import RECOVERY_PER_ACCOUNT
from stockade.accounts.services import verify_password
from stockade.accounts.twofactor.factors import enable_totp, two_factor_methods
from stockade.db.ratelimit import hit
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.web.auth import SESSION_COOKIE
from support.index import Index, csrf_from, login_client
from support.smtp import links_in, read_outbox

RECOVERY = "/account/recovery/"
QUEUE = "/admin/recovery/"
GOOD = "correct horse 1"
NEW = "saffron lighthouse 77"


def outbox(index: Index) -> list[EmailMessage]:
    return read_outbox(index.settings.data_dir / "outbox")


def subjects(index: Index) -> list[tuple[str, str]]:
    return [(str(m["To"]), str(m["Subject"])) for m in outbox(index)]


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def file(client: TestClient, account: str, **extra: object) -> httpx.Response:
    data: dict[str, object] = {
        "csrf_token": csrf_from(client, RECOVERY),
        "account": account,
        "contact_email": "me@personal.example.net",
        "proofs": ["email", "releases"],
        "statement": "My phone died and the recovery codes were on it.",
        **extra,
    }
    return client.post(RECOVERY, data=data)


def decide(
    admin: TestClient, request_id: int, action: str, *proofs: str, note: str = ""
) -> httpx.Response:
    page = f"{QUEUE}{request_id}/"
    data = {
        "csrf_token": csrf_from(admin, page),
        "action": action,
        "proofs_checked": list(proofs),
        "note": note,
    }
    return admin.post(page, data=data, follow_redirects=False)


def requests_of(index: Index) -> list[RecoveryRequest]:
    with index.db.read() as s:
        return list(s.scalars(select(RecoveryRequest).order_by(RecoveryRequest.id)))


def events(index: Index, tag: str) -> list[Event]:
    with index.db.read() as s:
        return list(s.scalars(select(Event).where(Event.tag == tag).order_by(Event.id)))


def test_file_a_request_and_an_admin_approves_it(index: Index) -> None:
    alice = index.user("alice")
    root = index.user("root", admin=True)
    secret = pyotp.random_base32(32)
    with index.db.write() as s:
        user = s.get(User, alice.id)
        assert user is not None
        enable_totp(s, user, secret, pyotp.TOTP(secret).now(), origin=CLI)
    alice_browser = login_client(index, "alice")

    form = index.client.get(RECOVERY)
    assert form.status_code == 200 and 'name="statement"' in form.text
    bad = index.client.post(
        RECOVERY, data={"csrf_token": csrf_from(index.client, RECOVERY), "contact_email": "x"}
    )
    assert bad.status_code == 400
    assert "Specify the username or an email address of the account." in bad.text
    assert "The email address isn&#39;t valid. Try again." in bad.text
    assert "Explain what happened" in bad.text
    filed = file(index.client, "alice")
    assert filed.status_code == 200 and "Request received" in filed.text
    # Unknown accounts and a second request while one is pending get the same answer.
    assert "Request received" in file(index.client, "nobody").text
    assert "Request received" in file(index.client, "alice@example.test").text
    [request] = requests_of(index)
    assert request.status == "pending" and request.proofs_offered == ["email", "releases"]
    assert request.contact_email == "me@personal.example.net"
    # The owner hears of it (an attacker's request does not go unnoticed).
    assert ("alice@example.test", "Account recovery requested on stockade") in subjects(index)

    admin = login_client(index, "root")
    assert login_client(index, "alice").get(QUEUE).status_code == 403
    queue = admin.get(QUEUE)
    assert queue.status_code == 200 and f'href="{QUEUE}{request.id}/"' in queue.text
    assert 'href="/admin/recovery/"' in admin.get("/admin/").text
    page = admin.get(f"{QUEUE}{request.id}/")
    assert page.status_code == 200
    text = page.text
    assert "alice@example.test" in text and "My phone died" in text
    assert "<dt>Linked trusted publishers</dt><dd>none</dd>" in text
    assert "<dt>Second factors</dt><dd>totp</dd>" in text
    assert "account:recovery:request" in text and "account:two_factor:add" in text

    assert decide(admin, request.id, "save", "email").status_code == 303
    assert requests_of(index)[0].proofs_checked == ["email"]
    [checks] = events(index, "account:recovery:checks")
    assert checks.details["proofs_checked"] == "email" and checks.actor_id is not None
    refused = decide(admin, request.id, "approve")
    assert refused.status_code == 400 and "Check at least one proof" in refused.text

    approved = decide(admin, request.id, "approve", "email", "releases", note="called her")
    assert approved.status_code == 303
    [request] = requests_of(index)
    assert request.status == "approved" and request.decided_by == root.id
    assert request.proofs_checked == ["email", "releases"] and request.decision_note == "called her"
    with index.db.read() as s:
        user = s.get(User, alice.id)
        assert user is not None and user.password_hash is None
        assert two_factor_methods(s, alice.id) == []
        live = s.scalars(
            select(UserSession).where(
                UserSession.user_id == alice.id, UserSession.revoked_at.is_(None)
            )
        ).all()
    assert live == []
    assert alice_browser.get("/manage/account/", follow_redirects=False).status_code == 303
    [removed] = events(index, "account:two_factor:remove")
    assert removed.actor_id == root.id and removed.details["reason"] == "account-recovery"
    [approval] = events(index, "account:recovery:approve")
    assert approval.actor_id == root.id and approval.user_id == alice.id
    assert approval.details["proofs_checked"] == ["email", "releases"]
    assert ("alice@example.test", "Your stockade account was recovered") in subjects(index)
    [reset] = [m for m in outbox(index) if str(m["Subject"]).startswith("Reset your")]
    assert reset["To"] == "alice@example.test" and "approved the recovery" in body(reset)
    assert decide(admin, request.id, "reject").status_code == 400  # already decided

    # The old password is dead; the mailed link sets a new one; then a plain login works.
    anonymous = index.client
    old = anonymous.post(
        "/account/login/",
        data={
            "csrf_token": csrf_from(anonymous, "/account/login/"),
            "username": "alice",
            "password": GOOD,
        },
        follow_redirects=False,
    )
    assert old.status_code == 400
    [link] = [u for u in links_in(reset) if "/account/reset-password/" in u]
    parts = urlsplit(link)
    token = parts.query.split("token=", 1)[1]
    done = anonymous.post(
        "/account/reset-password/",
        data={
            "csrf_token": csrf_from(anonymous, f"{parts.path}?{parts.query}"),
            "token": token,
            "new_password": NEW,
            "password_confirm": NEW,
        },
    )
    assert done.status_code == 200 and "Your password has been changed" in done.text
    login = anonymous.post(
        "/account/login/",
        data={
            "csrf_token": csrf_from(anonymous, "/account/login/"),
            "username": "alice",
            "password": NEW,
        },
        follow_redirects=False,
    )
    assert login.status_code == 303 and SESSION_COOKIE in login.cookies


def test_an_admin_rejects_a_request(index: Index) -> None:
    bob = index.user("bob")
    index.user("root", admin=True)
    file(index.client, "bob")
    [request] = requests_of(index)
    admin = login_client(index, "root")
    rejected = decide(admin, request.id, "reject", note="We could not confirm who you are.")
    assert rejected.status_code == 303
    [request] = requests_of(index)
    assert request.status == "rejected"
    [mail] = [m for m in outbox(index) if "rejected" in str(m["Subject"])]
    assert mail["To"] == "me@personal.example.net"
    assert "We could not confirm who you are." in body(mail)
    [event] = events(index, "account:recovery:reject")
    assert event.user_id == bob.id and event.details["note"] == "We could not confirm who you are."
    with index.db.read() as s:
        user = s.get(User, bob.id)
        assert user is not None and verify_password(user, GOOD)
    assert "rejected" in admin.get(QUEUE).text
    # A rejected request does not block a new one.
    file(index.client, "bob")
    assert [r.status for r in requests_of(index)] == ["rejected", "pending"]
    assert admin.get(f"{QUEUE}999/").status_code == 404


def test_recovery_requests_per_account_are_limited(index: Index) -> None:
    alice = index.user("alice")
    for _ in range(RECOVERY_PER_ACCOUNT.count):
        hit(index.db, f"recovery:user:{alice.id}", RECOVERY_PER_ACCOUNT)
    answer = file(index.client, "alice")
    # The same answer as always (whether the account exists stays unknown), but nothing filed.
    assert answer.status_code == 200 and "me@personal.example.net" in answer.text
    assert requests_of(index) == []
    [refused] = events(index, "account:recovery:request:refused")
    assert refused.user_id == alice.id and refused.details["reason"] == "rate_limited"
