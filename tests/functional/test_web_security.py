"""The web layer's guards: sessions, CSRF, security headers."""

from __future__ import annotations

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


def test_logged_in_page_shows_user_and_csrf_bound_logout(index: Index) -> None:
    client = login_client(index, "alice")
    html = client.get("/").text
    assert "Log out alice" in html
    token = csrf_from(client, "/")
    other = login_client(index, "bob")
    # Tokens are bound to the session: bob's form token differs.
    assert csrf_from(other, "/") != token
