"""Every page people see, in real Chromium at a desktop's 1280 px and a phone's 390 px: nothing
wider than the screen (tables scroll inside their own box on a phone, and need no scrolling on
a desktop), nothing cut off, no error in the console. A failure leaves a screenshot under the
CI artifact folder (see ``e2e.browser.ARTIFACTS``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser
from sqlalchemy import select

from e2e.browser import assert_fits, chromium, watched_page
from stockade.accounts.models import User
from stockade.accounts.sessions import start_session
from stockade.events.services import CLI
from stockade.index.rules import find_project
from stockade.web.auth import POLICY, SESSION_COOKIE
from stockade.webhooks.services import create_webhook, send_test
from support.builders import wheel_bytes, wheel_name
from support.index import Index

pytestmark = pytest.mark.e2e

# Long names are what push a layout past a phone's edge.
PROJECT = "a-rather-long-project-name-for-a-phone"
WIDTHS = (1280, 390)

PUBLIC = (
    "/",
    "/search/?q=rather",
    f"/project/{PROJECT}/",
    f"/project/{PROJECT}/1.0/",
    f"/project/{PROJECT}/report/",
    "/stats/",
    "/account/login/",
    "/account/register/",
    "/account/reset-password/",
    "/account/recovery/",
)
OWNER = (
    "/manage/projects/",
    f"/manage/project/{PROJECT}/",
    f"/manage/project/{PROJECT}/releases/",
    f"/manage/project/{PROJECT}/roles/",
    f"/manage/project/{PROJECT}/history/",
    f"/manage/project/{PROJECT}/settings/",
    f"/manage/project/{PROJECT}/webhooks/",
    f"/manage/project/{PROJECT}/publishing/",
    f"/manage/project/{PROJECT}/archive/",
    f"/manage/project/{PROJECT}/delete/",
    "/manage/account/",
    "/manage/account/history/",
    "/manage/account/tokens/",
    "/manage/account/two-factor/",
    "/manage/account/two-factor/totp/",
    "/manage/account/publishing/",
    "/manage/account/critical/",
)
ADMIN = (
    "/admin/",
    "/admin/users/alice/",
    "/admin/reports/",
    "/admin/prohibited/",
    "/admin/advisories/",
    "/admin/mirror/",
    "/admin/recovery/",
    "/admin/deleted/",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _session(index: Index, name: str) -> str:
    with index.db.write() as s:
        user = s.scalar(select(User).where(User.username == name))
        assert user is not None
        cookie, _ = start_session(s, user, origin=CLI, policy=POLICY)
        return cookie


def _check(browser: Browser, url: str, paths: tuple[str, ...], cookie: str | None) -> list[str]:
    failures = []
    for width in WIDTHS:
        for path in paths:
            w = watched_page(browser, width=width)
            if cookie is not None:
                w.page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": url}])
            response = w.page.goto(f"{url}{path}")
            assert response is not None and response.status == 200, (path, response)
            try:
                assert_fits(w, path)
            except AssertionError as exc:
                failures.append(str(exc))
            w.page.context.close()
    return failures


def test_every_page_fits_a_desktop_and_a_phone(index: Index, browser: Browser) -> None:
    index.user("alice")
    index.user("root", admin=True)
    for version in ("1.0", "1.1"):
        response = index.upload(wheel_bytes(PROJECT, version), wheel_name(PROJECT, version))
        assert response.status_code == 200, response.text
    # A webhook whose delivery log has a failed attempt (nothing listens on port 9).
    with index.db.write() as s:
        project = find_project(s, PROJECT)
        hook = create_webhook(
            s,
            index.settings,
            "http://127.0.0.1:9/a/rather/long/path/to/a/receiver/that/does/not/answer",
            project=project,
            created_by_id=None,
            origin=CLI,
            allow_private=True,
        )
        hook_id = hook.id
    assert not send_test(index.db, index.settings, hook_id).ok
    alice, root = _session(index, "alice"), _session(index, "root")
    with index.live() as url:
        failures = _check(browser, url, PUBLIC, None)
        failures += _check(browser, url, OWNER, alice)
        failures += _check(browser, url, ADMIN, root)
        # The site's 404 page: its only console error is its own status.
        w = watched_page(browser, width=390)
        missing = w.page.goto(f"{url}/no/such/page/")
        assert missing is not None and missing.status == 404
        w.console[:] = [m for m in w.console if "404 (Not Found)" not in m]
        try:
            assert_fits(w, "not found")
        except AssertionError as exc:
            failures.append(str(exc))
    assert failures == [], "\n".join(failures)


def test_the_files_table_on_a_phone(index: Index, browser: Browser) -> None:
    """The project page's files table scrolls inside its own box on a phone, and the hash
    column's "Other hashes" stays on one line."""
    response = index.upload(wheel_bytes(PROJECT, "1.0"), wheel_name(PROJECT, "1.0"))
    assert response.status_code == 200, response.text
    with index.live() as url:
        for width in WIDTHS:
            w = watched_page(browser, width=width)
            w.page.goto(f"{url}/project/{PROJECT}/")
            box = w.page.locator("table.files").locator("xpath=..")
            assert box.evaluate("e => e.classList.contains('table-scroll')")
            sizes = box.evaluate(
                "e => [e.getBoundingClientRect().right, e.scrollWidth, e.clientWidth,"
                " getComputedStyle(e).overflowX]"
            )
            assert sizes[0] <= width and sizes[3] == "auto", sizes
            summary = w.page.locator("table.files summary").first
            lines = summary.evaluate(
                "e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)"
            )
            assert lines < 1.5, (width, lines)
            header = w.page.locator("table.files thead th", has_text="SHA256")
            assert header.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
            assert_fits(w, "project page")
            w.page.context.close()
