"""Token-leak disclosure (``POST /_/secrets/disclose-token``): a loopback secret scanner
signs reports with its own ECDSA key and publishes the public key at its keys URL, as GitHub
does. A genuine report revokes the token at once, mails its user and records the event; a
forged signature is refused; unknown tokens are acknowledged without a word."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from stockade.config import Settings
from stockade.events.models import Event
from stockade.tokens.leaks import TOKEN_PATTERN, TOKEN_TYPE
from stockade.tokens.models import ApiToken
from support.builders import wheel_bytes, wheel_name
from support.index import Index
from support.scanner import Scanner, serve_scanner
from support.smtp import read_outbox

URL = "/_/secrets/disclose-token"
FOUND_AT = "https://github.com/someone/leaky/blob/abc123/.pypirc"


@pytest.fixture
def scanner() -> Iterator[Scanner]:
    with serve_scanner() as scanner:
        yield scanner


@pytest.fixture
def settings(settings: Settings, scanner: Scanner) -> Settings:
    return replace(settings, secret_scanning_keys_url=scanner.keys_url)


def record(token: str) -> dict[str, str]:
    return {"token": token, "type": TOKEN_TYPE, "url": FOUND_AT, "source": "content"}


def upload(index: Index, token: str, version: str) -> int:
    content = wheel_bytes("leaky", version)
    return index.upload(content, wheel_name("leaky", version), token=token).status_code


def test_a_genuine_report_revokes_the_token_and_tells_its_user(
    index: Index, scanner: Scanner
) -> None:
    token = index.token("alice")
    assert re.fullmatch(TOKEN_PATTERN, token), "scanners must recognise our tokens"
    assert upload(index, token, "1.0") == 200
    payload, headers = scanner.report([record(token)])

    response = index.client.post(URL, content=payload, headers=headers)

    assert response.status_code == 204, response.text
    assert upload(index, token, "1.1") == 403
    with index.db.read() as session:
        row = session.scalar(select(ApiToken))
        assert row is not None and row.revoked_at is not None
        event = session.scalar(select(Event).where(Event.tag == "token:leak"))
        assert event is not None and event.details["url"] == FOUND_AT
        assert event.user_id == index.user("alice").id
    [mail] = [
        m for m in read_outbox(index.settings.data_dir / "outbox") if "public" in m["subject"]
    ]
    assert mail["to"] == "alice@example.test"
    assert FOUND_AT in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # The keys were fetched once and are cached: a second report does not fetch them again.
    again = index.client.post(URL, content=payload, headers=headers)
    assert again.status_code == 204
    assert scanner.key_requests == 1


def test_a_forged_signature_is_refused_and_changes_nothing(index: Index, scanner: Scanner) -> None:
    token = index.token("alice")
    forger = ec.generate_private_key(ec.SECP256R1())
    payload, headers = scanner.report([record(token)], key=forger)

    response = index.client.post(URL, content=payload, headers=headers)

    assert response.status_code == 400
    assert "signature" in response.text
    # A genuine signature over other bytes is refused too.
    genuine, genuine_headers = scanner.report([record(token)])
    tampered = genuine.replace(FOUND_AT.encode(), b"https://example.test/elsewhere")
    assert index.client.post(URL, content=tampered, headers=genuine_headers).status_code == 400
    # An unknown key id: the keys are fetched again (once) and the report refused.
    unknown = {**genuine_headers, "Github-Public-Key-Identifier": "no-such-key"}
    assert index.client.post(URL, content=genuine, headers=unknown).status_code == 400
    # No signature headers: not a scanner's report at all.
    assert index.client.post(URL, content=genuine).status_code == 404
    assert upload(index, token, "1.0") == 200
    with index.db.read() as session:
        assert session.scalar(select(Event).where(Event.tag == "token:leak")) is None


def test_unknown_tokens_and_odd_records_are_acknowledged_alike(
    index: Index, scanner: Scanner
) -> None:
    token = index.token("alice")
    # A token of ours with its signature bytes changed, one from another index, a record of
    # another type and one with a field missing: all answered 204, none revoking anything.
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    records = [
        record(forged),
        record("stockade-MDAxNmxvY2F0aW9uIHN0b2NrYWRl" + "x" * 120),
        {"token": token, "type": "pypi_api_token", "url": FOUND_AT},
        {"token": token, "type": TOKEN_TYPE},
    ]
    payload, headers = scanner.report(records)
    assert index.client.post(URL, content=payload, headers=headers).status_code == 204
    assert upload(index, token, "1.0") == 200
    # PyPI's older path answers the same; a body that is not a list is a 400.
    not_a_list, headers = scanner.report({"token": token})
    assert (
        index.client.post(
            "/_/github/disclose-token", content=not_a_list, headers=headers
        ).status_code
        == 400
    )
