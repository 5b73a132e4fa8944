"""Security keys over HTTP without a browser: soft-webauthn plays the authenticator (real
ES256 keys, real CBOR, verified by py_webauthn on the server)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import cbor2
import httpx
from soft_webauthn import SoftWebauthnDevice
from sqlalchemy import select
from starlette.testclient import TestClient

from stockade.accounts.twofactor.factors import two_factor_methods
from stockade.accounts.twofactor.models import WebAuthnKey
from stockade.accounts.twofactor.webauthn import relying_party
from stockade.config import load_settings
from stockade.events.models import Event
from stockade.web.auth import SESSION_COOKIE
from support.index import Index, csrf_from, login_client
from support.smtp import read_outbox

GOOD = "correct horse 1"
TWO_FACTOR = "/manage/account/two-factor/"
SECOND_STEP = "/account/login/two-factor/"
ORIGIN = "http://testserver"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def as_browser_json(credential: dict[str, Any]) -> str:
    """What the page's script posts: every buffer base64url-encoded."""
    response = {k: b64(v) for k, v in credential["response"].items() if v is not None}
    return json.dumps(
        {
            "id": b64(credential["rawId"]),
            "rawId": b64(credential["rawId"]),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
        }
    )


def options(client: TestClient, path: str, page: str) -> dict[str, Any]:
    r = client.post(path, headers={"X-CSRF-Token": csrf_from(client, page)})
    assert r.status_code == 200, r.text
    opts: dict[str, Any] = r.json()
    opts["challenge"] = unb64(opts["challenge"])
    if "user" in opts:
        opts["user"]["id"] = unb64(opts["user"]["id"])
    return {"publicKey": opts}


def register(client: TestClient, device: SoftWebauthnDevice, label: str) -> httpx.Response:
    opts = options(client, TWO_FACTOR + "webauthn/options/", TWO_FACTOR)
    assert opts["publicKey"]["rp"]["id"] == "testserver"
    credential = as_browser_json(device.create(opts, ORIGIN))
    data = {
        "csrf_token": csrf_from(client, TWO_FACTOR),
        "label": label,
        "credential": credential,
        "password": GOOD,
    }
    return client.post(TWO_FACTOR + "webauthn/register/", data=data, follow_redirects=False)


def password_step(client: TestClient) -> None:
    data = {
        "csrf_token": csrf_from(client, "/account/login/"),
        "username": "alice",
        "password": GOOD,
    }
    r = client.post("/account/login/", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == SECOND_STEP


def key_step(client: TestClient, credential: str) -> httpx.Response:
    data = {"csrf_token": csrf_from(client, SECOND_STEP), "credential": credential}
    return client.post(SECOND_STEP + "webauthn/", data=data, follow_redirects=False)


def answer(client: TestClient, device: SoftWebauthnDevice, origin: str = ORIGIN) -> str:
    opts = options(client, SECOND_STEP + "webauthn/options/", SECOND_STEP)
    return as_browser_json(device.get(opts, origin))


def has_session(response: httpx.Response) -> bool:
    return any(SESSION_COOKIE in c for c in response.headers.get_list("set-cookie"))


def test_register_keys_log_in_and_refuse_clones(index: Index) -> None:
    alice = index.user("alice")
    client = login_client(index, "alice")
    yubi = SoftWebauthnDevice()
    r = register(client, yubi, "blue key")
    assert r.status_code == 200 and "shown only this once" in r.text  # first factor: codes
    codes = re.findall(r"<li><code>([0-9a-f]{16})</code></li>", r.text)
    assert len(codes) == 8
    assert read_outbox(index.settings.data_dir / "outbox")[-1]["Subject"].startswith(
        "Two-factor method added"
    )
    with index.db.read() as s:
        assert two_factor_methods(s, alice.id) == ["webauthn"]

    # A second key; labels are unique per account.
    spare = SoftWebauthnDevice()
    r = register(client, spare, "blue key")
    assert r.status_code == 400 and "already have a security key named" in r.text
    r = register(client, spare, "spare")
    assert r.status_code == 303 and r.headers["location"].endswith("done=key-added")
    page = client.get(TWO_FACTOR).text
    assert "blue key" in page and "spare" in page and "/static/webauthn.js" in page

    # Log in with either key, from an address never seen: no mailed confirmation for keys.
    browser = TestClient(index.app, base_url=ORIGIN, client=("203.0.113.77", 4000))
    password_step(browser)
    used = answer(browser, yubi)
    r = key_step(browser, used)
    assert r.status_code == 303 and has_session(r)
    with index.db.read() as s:
        login = s.scalars(
            select(Event).where(Event.tag == "account:login:success").order_by(Event.id.desc())
        ).first()
        assert login is not None and login.details["method"] == "webauthn"
        assert (
            s.scalars(select(WebAuthnKey.sign_count).where(WebAuthnKey.label == "blue key")).one()
            == 1
        )

    browser.cookies.delete(SESSION_COOKIE)
    password_step(browser)
    # The answer of the last login again: its challenge is spent.
    r = key_step(browser, used)
    assert r.status_code == 400 and not has_session(r)
    # Another origin (a phishing site relaying the challenge) is refused.
    r = key_step(browser, answer(browser, yubi, "http://evil.example"))
    assert r.status_code == 400 and not has_session(r)
    # A clone of the key (its counter behind the server's) is refused.
    yubi.sign_count = 0
    r = key_step(browser, answer(browser, yubi))
    assert r.status_code == 400 and "went backwards" in r.text
    with index.db.read() as s:
        reasons = [
            e.details["reason"]
            for e in s.scalars(select(Event).where(Event.tag == "account:login:failure"))
        ]
    assert "webauthn_sign_count" in reasons and "invalid_webauthn" in reasons
    r = key_step(browser, answer(browser, spare))
    assert r.status_code == 303 and has_session(r)

    # Removing one of two keys takes the password; the last one also a code.
    with index.db.read() as s:
        ids = {label: id_ for label, id_ in s.execute(select(WebAuthnKey.label, WebAuthnKey.id))}
    csrf = csrf_from(client, TWO_FACTOR)
    r = client.post(
        f"{TWO_FACTOR}webauthn/{ids['spare']}/remove/",
        data={"csrf_token": csrf, "password": GOOD},
        follow_redirects=False,
    )
    assert r.status_code == 303
    last = f"{TWO_FACTOR}webauthn/{ids['blue key']}/remove/"
    r = client.post(last, data={"csrf_token": csrf, "password": GOOD}, follow_redirects=False)
    assert r.status_code == 400 and "last second factor" in r.text
    r = client.post(
        last,
        data={"csrf_token": csrf, "password": GOOD, "code": codes[0]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with index.db.read() as s:
        assert two_factor_methods(s, alice.id) == []


def test_relying_party_from_settings_base_url_or_request(tmp_path: Any) -> None:
    plain = load_settings(tmp_path, environ={})
    rp = relying_party(plain, "http://localhost:8123")
    assert (rp.id, rp.origin) == ("localhost", "http://localhost:8123")
    behind = load_settings(
        tmp_path,
        environ={},
        overrides={
            "webauthn_rp_id": "example.org",
            "webauthn_origin": "https://pypi.example.org",
        },
    )
    rp = relying_party(behind, "http://10.0.0.5:8080")
    assert (rp.id, rp.origin) == ("example.org", "https://pypi.example.org")


def test_a_malformed_key_answer_is_a_400_never_a_500(index: Index) -> None:
    """Answers that break inside py_webauthn (here: authenticator data cut short, which raises
    InvalidAuthenticatorDataStructure) are refused like any bad answer."""
    index.user("alice")
    client = login_client(index, "alice")
    opts = options(client, TWO_FACTOR + "webauthn/options/", TWO_FACTOR)
    created = SoftWebauthnDevice().create(opts, ORIGIN)
    attestation = cbor2.loads(created["response"]["attestationObject"])
    attestation["authData"] = attestation["authData"][:20]
    created["response"]["attestationObject"] = cbor2.dumps(attestation)
    data = {
        "csrf_token": csrf_from(client, TWO_FACTOR),
        "label": "broken",
        "credential": as_browser_json(created),
        "password": GOOD,
    }
    r = client.post(TWO_FACTOR + "webauthn/register/", data=data, follow_redirects=False)
    assert r.status_code == 400 and "could not be verified" in r.text
    with index.db.read() as s:
        assert s.scalars(select(WebAuthnKey)).all() == []
