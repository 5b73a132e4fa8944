"""TOTP over HTTP: enrolment with a QR code, the second login step, replayed and out-of-window
codes, recovery codes, the mailed confirmation of a login from a new IP address, removal."""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from stockade.accounts.models import User, UserEmail, UserSession
from stockade.accounts.twofactor.factors import (
    TwoFactorError,
    enable_totp,
    remove_totp,
    remove_webauthn_key,
    two_factor_methods,
)
from stockade.accounts.twofactor.models import RecoveryCode, WebAuthnKey
from stockade.config import Settings
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.web.app import create_app
from stockade.web.auth import SESSION_COOKIE
from support.clock import SettableClock
from support.index import Index, csrf_from, login_client, run_cli
from support.smtp import links_in, read_outbox
from support.threads import run_threads

GOOD = "correct horse 1"  # the password of index.user()
TWO_FACTOR = "/manage/account/two-factor/"
SECOND_STEP = "/account/login/two-factor/"


@pytest.fixture
def index(settings: Settings) -> Iterator[Index]:
    """The index, its app reading the time from a clock set to the middle of a TOTP step:
    codes of the previous and next steps are exactly one step away, however slow the run."""
    with Index.open(settings, clock=SettableClock.mid_step()) as idx:
        yield idx


def now(index: Index) -> float:
    """The time the index's app checks codes against."""
    return index.app.context.clock()


def browser(index: Index, ip: str = "testclient") -> TestClient:
    return TestClient(index.app, base_url="http://testserver", client=(ip, 50000))


def log_in(client: TestClient, password: str = GOOD) -> httpx.Response:
    data = {
        "csrf_token": csrf_from(client, "/account/login/"),
        "username": "alice",
        "password": password,
    }
    return client.post("/account/login/", data=data, follow_redirects=False)


def log_out(client: TestClient) -> None:
    csrf = csrf_from(client, "/manage/account/")
    client.post("/account/logout/", data={"csrf_token": csrf}, follow_redirects=False)
    client.cookies.delete(SESSION_COOKIE)


def second_step(client: TestClient, kind: str, code: str) -> httpx.Response:
    csrf = csrf_from(client, SECOND_STEP)
    return client.post(
        f"{SECOND_STEP}{kind}/", data={"csrf_token": csrf, "code": code}, follow_redirects=False
    )


def post(client: TestClient, path: str, page: str, **data: str) -> httpx.Response:
    return client.post(
        path, data={"csrf_token": csrf_from(client, page), **data}, follow_redirects=False
    )


def outbox(index: Index) -> list[EmailMessage]:
    return read_outbox(index.settings.data_dir / "outbox")


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def tags(index: Index, user_id: int) -> list[str]:
    with index.db.read() as s:
        return list(s.scalars(select(Event.tag).where(Event.user_id == user_id).order_by(Event.id)))


def has_session(response: httpx.Response) -> bool:
    return any(SESSION_COOKIE in c for c in response.headers.get_list("set-cookie"))


def enrol(index: Index, *, known_ip: str | None = "testclient") -> tuple[pyotp.TOTP, list[str]]:
    """Alice with TOTP (through the service); her earlier password login came from known_ip."""
    alice = index.user("alice")
    if known_ip is not None:
        assert log_in(browser(index, known_ip)).status_code == 303
    secret = pyotp.random_base32(32)
    totp = pyotp.TOTP(secret)
    with index.db.write() as s:
        user = s.get(User, alice.id)
        assert user is not None
        codes = enable_totp(s, user, secret, totp.at(now(index) - 30), origin=CLI, now=now(index))
    return totp, codes


def test_enrol_with_qr_code_then_log_in_replay_and_window(index: Index) -> None:
    alice = index.user("alice")
    client = browser(index)
    assert log_in(client).status_code == 303
    page = client.get(TWO_FACTOR)
    assert page.status_code == 200 and "is <strong>off</strong>" in page.text

    # Enrolment: a QR code (inline SVG, no script) and the secret; nothing is on before the code.
    r = post(client, TWO_FACTOR + "totp/start/", TWO_FACTOR)
    assert r.status_code == 303 and r.headers["location"] == TWO_FACTOR + "totp/"
    page = client.get(TWO_FACTOR + "totp/")
    assert "<svg" in page.text and "<script" not in page.text
    match = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.text)
    assert match
    secret = match.group(1).replace(" ", "")
    assert len(secret) == 32  # 160 bits
    totp = pyotp.TOTP(secret)
    with index.db.read() as s:
        assert two_factor_methods(s, alice.id) == []
    wrong = str((int(totp.at(now(index))) + 1) % 1_000_000).zfill(6)
    r = post(client, TWO_FACTOR + "totp/confirm/", TWO_FACTOR + "totp/", code=wrong, password=GOOD)
    assert r.status_code == 400 and "Invalid TOTP code" in r.text
    # A stolen session alone cannot add a factor: the password is asked again.
    r = post(
        client,
        TWO_FACTOR + "totp/confirm/",
        TWO_FACTOR + "totp/",
        code=totp.at(now(index)),
        password="x",
    )
    assert r.status_code == 400 and "The password is invalid" in r.text
    # (A code of the previous step: the confirming code is spent, so the login below needs a
    # later one.)
    confirm = totp.at(now(index) - 30)
    r = post(
        client, TWO_FACTOR + "totp/confirm/", TWO_FACTOR + "totp/", code=confirm, password=GOOD
    )
    assert r.status_code == 200 and "shown only this once" in r.text
    codes = re.findall(r"<li><code>([0-9a-f]{16})</code></li>", r.text)
    assert len(codes) == 8
    with index.db.read() as s:
        assert two_factor_methods(s, alice.id) == ["totp"]
        stored = s.scalars(select(RecoveryCode.code_sha256)).all()
    assert len(stored) == 8 and not set(codes) & set(stored)  # hashed
    assert "Two-factor method added" in outbox(index)[-1]["Subject"]
    assert "is <strong>on</strong>" in client.get(TWO_FACTOR).text

    # Logging in now takes two steps; the password alone starts no session.
    log_out(client)
    r = log_in(client)
    assert r.status_code == 303 and r.headers["location"] == SECOND_STEP
    assert not has_session(r)
    assert client.get("/manage/account/", follow_redirects=False).status_code == 303
    code = totp.at(now(index))
    r = second_step(client, "totp", code)
    assert r.status_code == 303 and r.headers["location"] == "/manage/projects/"
    assert has_session(r)
    assert client.get("/manage/account/").status_code == 200

    # The same code again (replay), an old one and one far in the future are refused.
    log_out(client)
    assert log_in(client).status_code == 303
    for refused in (code, totp.at(now(index) - 30), totp.at(now(index) + 120)):
        if refused == totp.at(now(index) + 30):
            continue  # a coincidence of two steps' codes: not what this checks
        r = second_step(client, "totp", refused)
        assert r.status_code == 400 and "Invalid TOTP code" in r.text
        assert not has_session(r)
    r = second_step(client, "totp", totp.at(now(index) + 30))  # next step: within ±1
    assert r.status_code == 303 and has_session(r)
    failures = [
        e
        for e in tags(index, alice.id)
        if e in ("account:login:failure", "account:login:success", "account:two_factor:add")
    ]
    assert failures.count("account:login:failure") >= 2
    assert failures.count("account:two_factor:add") == 1


def test_recovery_code_works_once_and_is_mailed(index: Index) -> None:
    _, codes = enrol(index)
    alice = index.user("alice")
    client = browser(index)
    assert log_in(client).status_code == 303
    r = second_step(client, "recovery-code", codes[3].upper())
    assert r.status_code == 303 and has_session(r)
    mail = outbox(index)[-1]
    assert mail["Subject"].startswith("A recovery code was used")
    assert "7 unused recovery codes are left" in body(mail)
    assert "account:recovery_code:use" in tags(index, alice.id)

    log_out(client)
    assert log_in(client).status_code == 303
    r = second_step(client, "recovery-code", codes[3])
    assert r.status_code == 400 and "Invalid recovery code" in r.text
    assert not has_session(r)
    assert second_step(client, "recovery-code", codes[4]).status_code == 303

    # Regenerating (with the password) invalidates the old set.
    r = post(client, TWO_FACTOR + "recovery-codes/", TWO_FACTOR, password="wrong")
    assert r.status_code == 400
    r = post(client, TWO_FACTOR + "recovery-codes/", TWO_FACTOR, password=GOOD)
    new = re.findall(r"<li><code>([0-9a-f]{16})</code></li>", r.text)
    assert r.status_code == 200 and len(new) == 8
    assert outbox(index)[-1]["Subject"].startswith("New recovery codes generated")
    log_out(client)
    assert log_in(client).status_code == 303
    assert second_step(client, "recovery-code", codes[5]).status_code == 400
    assert second_step(client, "recovery-code", new[0]).status_code == 303


def test_login_from_a_new_ip_needs_the_mailed_link_in_the_same_browser(index: Index) -> None:
    totp, _ = enrol(index, known_ip="198.51.100.1")
    alice = index.user("alice")
    client = browser(index, "203.0.113.9")
    assert log_in(client).status_code == 303
    r = second_step(client, "totp", totp.at(now(index)))
    assert r.status_code == 200 and "confirmation link" in r.text
    assert not has_session(r)
    mail = outbox(index)[-1]
    assert mail["To"] == "alice@example.test"
    assert "203.0.113.9" in body(mail)
    [link] = [u for u in links_in(mail) if "/account/login/confirm/" in u]
    parts = urlsplit(link)
    path = f"{parts.path}?{parts.query}"
    token = parts.query.removeprefix("token=")

    # The phished-credentials case: the link opened in another browser does nothing.
    other = browser(index, "192.0.2.50")
    page = other.get(path)
    assert page.status_code == 200 and 'name="token"' in page.text
    r = post(other, "/account/login/confirm/", path, token=token)
    assert r.status_code == 400 and not has_session(r)
    assert "account:login:confirm:failure" in tags(index, alice.id)

    # Opening the link is not enough (mail scanners open links): the button finishes it.
    assert client.get(path).status_code == 200
    assert client.get("/manage/account/", follow_redirects=False).status_code == 303
    r = post(client, "/account/login/confirm/", path, token=token)
    assert r.status_code == 303 and has_session(r)
    assert client.get("/manage/account/").status_code == 200
    r = post(client, "/account/login/confirm/", path, token=token)
    assert r.status_code == 400  # single use
    with index.db.read() as s:
        success = s.scalars(
            select(Event).where(Event.tag == "account:login:success").order_by(Event.id.desc())
        ).first()
    assert success is not None and success.ip_address == "203.0.113.9"
    assert success.details["method"] == "totp"
    assert "account:login:confirmation-sent" in tags(index, alice.id)

    # That address is known now: the next login from it needs no confirmation.
    log_out(client)
    assert log_in(client).status_code == 303
    r = second_step(client, "totp", totp.at(now(index) + 30))
    assert r.status_code == 303 and has_session(r)


def test_second_step_is_rate_limited(index: Index) -> None:
    totp, _ = enrol(index)
    client = browser(index)
    assert log_in(client).status_code == 303
    wrong = str((int(totp.at(now(index))) + 500_000) % 1_000_000).zfill(6)
    statuses = [second_step(client, "totp", wrong).status_code for _ in range(11)]
    assert statuses[:10] == [400] * 10 and statuses[10] == 429
    assert second_step(client, "totp", totp.at(now(index))).status_code == 429


def test_removing_the_last_factor_needs_password_and_code(index: Index) -> None:
    totp, _ = enrol(index, known_ip=None)
    alice = index.user("alice")
    client = login_client(index, "alice")
    remove = TWO_FACTOR + "totp/remove/"
    r = post(client, remove, TWO_FACTOR, password="wrong", code=totp.at(now(index)))
    assert r.status_code == 400 and "password is invalid" in r.text
    r = post(client, remove, TWO_FACTOR, password=GOOD, code="")
    assert r.status_code == 400 and "last second factor" in r.text
    with index.db.read() as s:
        assert two_factor_methods(s, alice.id) == ["totp"]
    r = post(client, remove, TWO_FACTOR, password=GOOD, code=totp.at(now(index)))
    assert r.status_code == 303 and r.headers["location"].endswith("done=totp-removed")
    with index.db.read() as s:
        assert two_factor_methods(s, alice.id) == []
        assert s.scalars(select(RecoveryCode)).all() == []
    assert outbox(index)[-1]["Subject"].startswith("Two-factor method removed")
    assert "account:two_factor:remove" in tags(index, alice.id)
    # Without 2FA, the password alone logs in again.
    r = log_in(browser(index))
    assert r.status_code == 303 and has_session(r)


def test_with_another_factor_left_the_password_suffices(index: Index) -> None:
    enrol(index, known_ip=None)
    alice = index.user("alice")
    with index.db.write() as s:
        s.add(WebAuthnKey(user_id=alice.id, label="key", credential_id="x", public_key=b"k"))
    client = login_client(index, "alice")
    r = post(client, TWO_FACTOR + "totp/remove/", TWO_FACTOR, password=GOOD)
    assert r.status_code == 303
    with index.db.read() as s:
        assert two_factor_methods(s, alice.id) == ["webauthn"]
        assert len(s.scalars(select(RecoveryCode)).all()) == 8


def test_user_show_lists_methods(index: Index) -> None:
    enrol(index, known_ip=None)
    shown = run_cli(index, "user", "show", "alice", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["two_factor"] == ["totp"]
    with index.db.read() as s:
        assert s.scalars(select(UserSession)).all() == []


def test_a_new_api_token_is_mailed(index: Index) -> None:
    client = login_client(index, "alice")
    page = "/manage/account/tokens/"
    r = post(client, page, page, scope="all", name="laptop")
    assert r.status_code == 200
    mail = outbox(index)[-1]
    assert mail["Subject"].startswith("New API token created")
    assert mail["To"] == "alice@example.test" and '"laptop"' in body(mail)


def test_the_second_step_goes_on_to_next(index: Index) -> None:
    totp, _ = enrol(index)
    client = browser(index)
    target = "/manage/account/tokens/"
    page = f"/account/login/?next={target}"
    data = {"csrf_token": csrf_from(client, page), "username": "alice", "password": GOOD}
    r = client.post("/account/login/", data={**data, "next": target}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == SECOND_STEP
    r = second_step(client, "totp", totp.at(now(index)))
    assert r.status_code == 303 and r.headers["location"] == target


def test_the_confirmation_link_never_points_at_the_host_the_request_names(index: Index) -> None:
    """Host-header poisoning of the new-IP confirmation: without base_url, a request naming
    another host gets no mail at all (a mail linking there would hand over the login)."""
    totp, _ = enrol(index, known_ip="198.51.100.1")
    app = create_app(index.settings, clock=index.app.context.clock)  # no base_url
    try:
        with TestClient(app, base_url="http://evil.example", client=("203.0.113.9", 1)) as c:
            assert log_in(c).status_code == 303
            r = second_step(c, "totp", totp.at(now(index)))
            assert r.status_code == 421 and "Set base_url" in r.text
    finally:
        app.context.db.dispose()
    assert not any("evil.example" in str(m) for m in outbox(index))
    assert not any("/account/login/confirm/" in str(m) for m in outbox(index))


def test_refreshing_the_second_step_keeps_the_login_waiting_for_its_link(index: Index) -> None:
    totp, _ = enrol(index, known_ip="198.51.100.1")
    client = browser(index, "203.0.113.9")
    assert log_in(client).status_code == 303
    r = second_step(client, "totp", totp.at(now(index)))
    assert r.status_code == 200 and "confirmation link" in r.text
    # A refresh, and the form posted twice: the same answer, the pending login kept.
    page = client.get(SECOND_STEP, follow_redirects=False)
    assert page.status_code == 200 and "confirmation link" in page.text
    assert "set-cookie" not in page.headers
    again = client.post(
        f"{SECOND_STEP}totp/", data={"csrf_token": csrf_from(client, "/account/login/")}
    )
    assert again.status_code == 200 and "confirmation link" in again.text
    [link] = [u for u in links_in(outbox(index)[-1]) if "/account/login/confirm/" in u]
    parts = urlsplit(link)
    path = f"{parts.path}?{parts.query}"
    r = post(client, "/account/login/confirm/", path, token=parts.query.removeprefix("token="))
    assert r.status_code == 303 and has_session(r)


def test_a_second_factor_needs_a_verified_primary_address(index: Index) -> None:
    alice = index.user("alice")
    with index.db.write() as s:
        s.execute(update(UserEmail).where(UserEmail.user_id == alice.id).values(verified=False))
    client = login_client(index, "alice")
    page = client.get(TWO_FACTOR)
    assert "Verify your primary email address" in page.text
    assert "/two-factor/totp/start/" not in page.text and 'id="add-key"' not in page.text
    r = post(client, TWO_FACTOR + "totp/start/", TWO_FACTOR)
    assert r.status_code == 400 and "Verify your primary email address" in r.text
    r = client.post(
        TWO_FACTOR + "webauthn/options/", headers={"X-CSRF-Token": csrf_from(client, TWO_FACTOR)}
    )
    assert r.status_code == 400 and "Verify your primary email address" in r.text
    secret = pyotp.random_base32(32)
    with index.db.write() as s:
        user = s.get(User, alice.id)
        assert user is not None
        with pytest.raises(TwoFactorError, match="Verify your primary email"):
            enable_totp(s, user, secret, pyotp.TOTP(secret).now(), origin=CLI)
    with index.db.read() as s:
        assert two_factor_methods(s, alice.id) == []


def test_refused_changes_are_events_and_a_spent_recovery_code_is_mailed(index: Index) -> None:
    _, codes = enrol(index, known_ip=None)
    alice = index.user("alice")
    client = login_client(index, "alice")
    remove = TWO_FACTOR + "totp/remove/"
    assert post(client, remove, TWO_FACTOR, password="wrong").status_code == 400
    assert post(client, remove, TWO_FACTOR, password=GOOD, code="").status_code == 400
    r = post(client, TWO_FACTOR + "recovery-codes/", TWO_FACTOR, password="wrong")
    assert r.status_code == 400
    with index.db.read() as s:
        failures = s.scalars(
            select(Event)
            .where(Event.user_id == alice.id, Event.tag.like("%:failure"))
            .order_by(Event.id)
        ).all()
    assert [(e.tag, e.details.get("method")) for e in failures] == [
        ("account:two_factor:remove:failure", "totp"),
        ("account:two_factor:remove:failure", "totp"),
        ("account:recovery_codes:generate:failure", None),
    ]
    assert "password is invalid" in failures[0].details["reason"]
    assert "last second factor" in failures[1].details["reason"]
    # The last factor removed with a recovery code: that use is mailed, as at login.
    r = post(client, remove, TWO_FACTOR, password=GOOD, code=codes[0])
    assert r.status_code == 303
    subjects = [str(m["Subject"]) for m in outbox(index)]
    assert any(s.startswith("A recovery code was used") for s in subjects)
    assert subjects[-1].startswith("Two-factor method removed")
    assert "account:recovery_code:use" in tags(index, alice.id)


def test_two_concurrent_removals_cannot_both_pass_as_not_the_last(index: Index) -> None:
    enrol(index, known_ip=None)
    alice = index.user("alice")
    with index.db.write() as s:
        s.add(WebAuthnKey(user_id=alice.id, label="key", credential_id="x", public_key=b"k"))
    with index.db.read() as s:
        key_id = s.scalars(select(WebAuthnKey.id)).one()
    barrier = threading.Barrier(2)

    def run(kind: str) -> str:
        barrier.wait()
        try:
            with index.db.write() as s:
                user = s.get(User, alice.id)
                assert user is not None
                if kind == "totp":
                    remove_totp(s, user, password=GOOD, code="", origin=CLI)
                else:
                    remove_webauthn_key(s, user, key_id, password=GOOD, code="", origin=CLI)
                time.sleep(0.2)  # hold the transaction open: the other one must wait
            return "removed"
        except TwoFactorError as exc:
            return str(exc)

    results = run_threads([functools.partial(run, "totp"), functools.partial(run, "key")])
    assert results.count("removed") == 1, results
    with index.db.read() as s:
        assert len(two_factor_methods(s, alice.id)) == 1
