"""A security key in real Chromium (a CDP virtual authenticator) against `stockade serve`:
register it, log out, log in with it. Served at http://localhost:PORT, a secure context, so the
relying party id is "localhost" (taken from the request: no setting needed)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from e2e.browser import chromium, watched_page
from e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"  # alice's, made by the live fixture


def test_register_a_security_key_log_out_and_log_in_with_it(live: LiveServer) -> None:
    url = live.url.replace("127.0.0.1", "localhost")
    with chromium() as browser:
        watched = watched_page(browser)
        page = watched.page
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable", {"enableUI": False})
        added = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "usb",
                    "hasResidentKey": False,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )

        def password_step() -> None:
            page.goto(f"{url}/account/login/")
            page.fill("#username", "alice")
            page.fill("#password", PASSWORD)
            page.click("form.account-form button[type=submit]")

        password_step()
        page.wait_for_url(f"{url}/manage/projects/")
        page.goto(f"{url}/manage/account/two-factor/")
        expect(page.locator("#add-key[data-webauthn-ready]")).to_have_count(1)
        page.fill("#key-label", "virtual key")
        page.fill("#key-password", PASSWORD)
        page.click("#add-key button[type=submit]")
        expect(page.locator("h1")).to_have_text("Your recovery codes")
        expect(page.locator("#recovery-codes li")).to_have_count(8)
        page.goto(f"{url}/manage/account/two-factor/")
        expect(page.locator("#key-1 td").first).to_have_text("virtual key")

        page.click(".site-header form[action='/account/logout/'] button")
        page.wait_for_url(f"{url}/")
        password_step()
        page.wait_for_url(f"{url}/account/login/two-factor/")
        expect(page.locator("#login-key[data-webauthn-ready]")).to_have_count(1)
        page.click("#login-key button[type=submit]")
        page.wait_for_url(f"{url}/manage/projects/")
        expect(page.locator(".site-header")).to_contain_text("Log out alice")
        credentials = cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": added["authenticatorId"]}
        )
        assert len(credentials["credentials"]) == 1
        assert credentials["credentials"][0]["signCount"] >= 1
        assert watched.errors == []
        assert not [line for line in watched.console if "Content Security Policy" in line]

    shown = live.stockade("user", "show", "alice", "--json")
    assert '"webauthn"' in shown
