"""The web layer's guards: sessions, CSRF, security headers."""

from __future__ import annotations

from starlette.testclient import TestClient

from support.builders import wheel_bytes, wheel_name
from support.index import Index, csrf_from, login_client


def test_security_headers_on_pages(index: Index) -> None:
    r = index.client.get("/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_security_headers_on_the_installers_paths(index: Index) -> None:
    assert index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
    link = index.client.get(
        "/simple/demo/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    ).json()["files"][0]["url"]
    file_path = "/packages/" + link.split("/packages/", 1)[1]
    with TestClient(index.app, base_url="https://testserver") as https:
        for client, secure in ((index.client, False), (https, True)):
            for path in ("/simple/", "/simple/demo/", "/simple/nothing-here/"):
                r = client.get(path)
                assert r.headers["x-content-type-options"] == "nosniff", path
                csp = r.headers["content-security-policy"]
                assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
                assert ("strict-transport-security" in r.headers) == secure
            for path in (file_path, file_path + ".metadata", "/packages/aa/bb/cc/x.whl"):
                r = client.get(path)
                assert r.headers["x-content-type-options"] == "nosniff", path
                # People's uploads, served from this origin: nothing in them may run.
                assert r.headers["content-security-policy"].endswith("sandbox"), path
                assert ("strict-transport-security" in r.headers) == secure


def test_logged_in_page_shows_user_and_csrf_bound_logout(index: Index) -> None:
    client = login_client(index, "alice")
    html = client.get("/").text
    assert "Log out alice" in html
    token = csrf_from(client, "/")
    other = login_client(index, "bob")
    # Tokens are bound to the session: bob's form token differs.
    assert csrf_from(other, "/") != token


def test_unknown_pages_get_the_site_404_and_apis_keep_json(index: Index) -> None:
    client = login_client(index, "alice")
    r = client.get("/manage/project/nope/")
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]
    assert "nope" in r.text
    r = index.client.get("/account/no-such-page/")
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]
    r = index.client.get("/pypi/nope/json")
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}
