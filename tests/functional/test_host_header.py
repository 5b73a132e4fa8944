"""The Host header is the client's to choose: whatever it names, no page or API answers with a
server error, and pages that would mail or publish a link to that host refuse with 421."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from stockade.web.app import create_app
from support.builders import wheel_bytes, wheel_name
from support.index import Index

HOSTS = ["evil.example", "a b", "[::1", "x:y:z", "localhost:99999", "..", "a" * 300, ""]
PATHS = [
    "/",
    "/simple/",
    "/simple/demo/",
    "/project/demo/",
    "/pypi/demo/json",
    "/account/login/",
    "/account/register/",
    "/account/reset-password/",
    "/_/oidc/audience",
    "/search/?q=demo",
    "/packages/aa/bb/cc/demo-1.0-py3-none-any.whl",
    "/_health/",
]


@pytest.mark.parametrize("host", HOSTS)
def test_no_server_error_for_any_host(index: Index, host: str) -> None:
    assert index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
    app = create_app(index.settings)  # no base_url: links come from loopback requests only
    try:
        with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as c:
            for path in PATHS:
                r = c.get(path, headers={"Host": host})
                assert r.status_code < 500, (host, path, r.status_code, r.text[:200])
            # A link to the host the client named is never built; a name that cannot be parsed
            # as a host leaves the URL at the server's own loopback address.
            audience = c.get("/_/oidc/audience", headers={"Host": host})
            if audience.status_code == 200:
                assert audience.json() == {"audience": "localhost"}, host
            else:
                assert audience.status_code == 421 and "Set base_url" in audience.text
    finally:
        app.context.db.dispose()
