"""New recovery codes in real Chromium: the page offers them as a text file to download and a
Print button (the script that enables it is the site's own, allowed by the CSP)."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from e2e.browser import assert_fits, chromium, watched_page
from stockade.accounts.models import User
from stockade.accounts.sessions import start_session
from stockade.accounts.twofactor.factors import enable_totp
from stockade.events.services import CLI
from stockade.web.auth import POLICY, SESSION_COOKIE
from support.index import Index

pytestmark = pytest.mark.e2e

# Counts the print dialogs asked for (headless Chromium has no dialog to open).
COUNT_PRINTS = "window.__prints = 0; window.print = () => { window.__prints += 1; };"


def test_download_and_print_recovery_codes(index: Index) -> None:
    index.user("alice")
    with index.db.write() as s:
        alice = s.scalar(select(User).where(User.username == "alice"))
        assert alice is not None
        secret = pyotp.random_base32()
        enable_totp(s, alice, secret, pyotp.TOTP(secret).now(), origin=CLI)
        cookie, _ = start_session(s, alice, origin=CLI, policy=POLICY)
    with index.live() as url, chromium() as browser:
        for width in (1280, 390):
            w = watched_page(browser, width=width)
            page = w.page
            page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": url}])
            page.add_init_script(COUNT_PRINTS)
            page.goto(f"{url}/manage/account/two-factor/")
            page.locator("#codes-password").fill("correct horse 1")
            with page.expect_navigation():
                page.get_by_role("button", name="Generate new recovery codes").click()
            expect(page.locator("h1")).to_have_text("Your recovery codes")
            codes = page.locator("#recovery-codes code").all_inner_texts()
            assert len(codes) == 8

            with page.expect_download() as download:
                page.locator("#download-codes").click()
            assert download.value.suggested_filename.endswith("-recovery-codes.txt")
            saved = download.value.path().read_text(encoding="utf-8")
            assert [line for line in saved.splitlines() if line in codes] == codes
            assert "Keep them somewhere safe." in saved

            printing = page.get_by_role("button", name="Print")
            expect(printing).to_be_visible()
            printing.click()
            assert page.evaluate("window.__prints") == 1
            assert not [m for m in w.console if "Content Security Policy" in m], w.console
            assert_fits(w, "recovery codes")
            page.context.close()
