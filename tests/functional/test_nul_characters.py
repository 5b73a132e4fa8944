"""A NUL character from a client is refused with a 4xx before it reaches the database:
PostgreSQL cannot store or compare a text value holding one, so each of these was a 500 there
(found by fuzzing the JSON APIs); SQLite must answer the same."""

from __future__ import annotations

import pytest

from support.builders import wheel_bytes, wheel_name
from support.index import Index

URLS = [
    "/pypi/de%00mo/json",
    "/pypi/demo/1.0%00/json",
    "/simple/de%00mo/",
    "/packages/00/de%00mo-1.0.tar.gz",
    "/project/de%00mo/",
    "/v1/vulns/PYSEC-%00",
    "/search/?q=de%00mo",
    "/stats/security.json?range=all%00",
]


@pytest.mark.parametrize("url", URLS)
def test_a_nul_in_the_url_is_a_400(index: Index, url: str) -> None:
    index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"))
    r = index.client.get(url)
    assert r.status_code == 400, (r.status_code, r.text)
    assert "NUL" in r.text
    # The same path without the NUL is served: the refusal is the character's, not the route's.
    assert index.client.get(url.replace("%00", "")).status_code < 500


def test_the_osv_api_refuses_a_nul_with_its_own_error(index: Index) -> None:
    for path, body in (
        ("/v1/query", {"package": {"name": "de\x00mo"}, "version": "1.0"}),
        ("/v1/query", {"package": {"name": "demo"}, "version": "1.0\x00"}),
        ("/v1/querybatch", {"queries": [{"package": {"purl": "pkg:pypi/de\x00mo"}}]}),
    ):
        r = index.client.post(path, json=body)
        assert r.status_code == 400, (path, r.text)
        assert r.json() == {"code": 3, "message": "Invalid JSON payload received."}


def test_the_token_exchange_refuses_a_nul_with_its_own_error(index: Index) -> None:
    for path in ("/_/oidc/mint-token", "/_/oidc/burn-token"):
        r = index.client.post(path, json={"token": "pypi-\x00"})
        assert r.status_code == 422, (path, r.text)
        assert r.json()["errors"][0]["code"] == "invalid-payload"


def test_the_report_api_refuses_a_nul(index: Index) -> None:
    index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"))
    token = index.token("bob")
    for doc in (
        {"project": "de\x00mo", "reason": "malware", "evidence": "see"},
        {"project": "demo", "version": "1.0", "reason": "mal\x00ware", "evidence": "see"},
    ):
        r = index.client.post(
            "/api/reports", json=doc, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 400, r.text
        assert "NUL" in r.json()["message"]
