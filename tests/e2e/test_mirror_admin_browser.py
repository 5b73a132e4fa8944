"""The mirror's admin page in real Chromium: it renders on a desktop (1280 px) and on a phone
(390 px) with nothing wider than the screen but the tables (which scroll in their
``.table-scroll``), its forms post from the browser with their CSRF token and come back with a
notice, and a refused form comes back with the reason, at phone width too."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from e2e.browser import Watched, chromium, watched_page
from stockade.accounts.models import User
from stockade.accounts.sessions import start_session
from stockade.db.base import utcnow
from stockade.events.services import CLI
from stockade.mirror import actions
from stockade.mirror.models import MirrorOrigin
from stockade.mirror.services import add_upstream
from stockade.mirror.views import create_view
from stockade.web.auth import POLICY, SESSION_COOKIE
from support.builders import wheel_bytes, wheel_name
from support.index import Index
from support.mirror_upstream import StaticUpstream

pytestmark = pytest.mark.e2e

# Overflows that only the tables may have: the document's width against the viewport's, and
# every element outside a .table-scroll whose right edge passes the viewport.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => !e.closest('.table-scroll') && e.getBoundingClientRect().right > width + 0.5)
    .map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''));
  return {scroll: document.documentElement.scrollWidth, width, wide};
}"""


def _admin_page(browser_width: int, url: str, cookie: str, browser: object) -> Watched:
    w = watched_page(browser, width=browser_width, height=900)  # type: ignore[arg-type]
    w.page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": url}])
    return w


def _fits(page: Page, width: int) -> None:
    found = page.evaluate(OVERFLOW)
    assert found["scroll"] <= width and found["wide"] == [], (width, found)


def _clean(w: Watched) -> None:
    assert w.dialogs == [] and w.errors == [], (w.dialogs, w.errors)
    assert not [m for m in w.console if "Content Security Policy" in m], w.console


def test_the_mirror_admin_page_in_chromium(index: Index, tmp_path: Path) -> None:
    index.user("root", admin=True)
    with StaticUpstream.start(tmp_path / "upstream") as up:
        long_name = "a-rather-long-project-name-that-would-not-fit-on-a-phone-screen"
        up.add_project(
            long_name,
            [(wheel_name(long_name, "1.0"), wheel_bytes(long_name, "1.0"))],
            upload_time=utcnow(),
        )
        with index.db.write() as s:
            add_upstream(s, "pypi", up.url, cooldown_days=3, origin=CLI, actor_id=None)
            actions.set_rule(
                s, "corp-secret", "local", upstream_name=None, origin=CLI, actor_id=None
            )
            actions.exempt(
                s,
                "urgent",
                version="2.0",
                reason="a fix we need today",
                days=2,
                origin=CLI,
                actor_id=None,
            )
            create_view(
                s,
                "vetted",
                min_age_days=14,
                allow=["requests", "django<5"],
                origin=CLI,
                actor_id=None,
            )
            root = s.scalar(select(User).where(User.username == "root"))
            assert root is not None
            cookie, _ = start_session(s, root, origin=CLI, policy=POLICY)
        assert index.client.get(f"/simple/{long_name}/").status_code == 404  # held back

        with index.live() as url, chromium() as browser:
            for width in (1280, 390):
                w = _admin_page(width, url, cookie, browser)
                page = w.page
                page.goto(f"{url}/admin/mirror/")
                expect(page.locator("h1")).to_have_text("Mirror")
                expect(page.locator("#held ~ .table-scroll")).to_contain_text(
                    wheel_name(long_name, "1.0")
                )
                expect(
                    page.get_by_text("corp-secret is served from local uploads only")
                ).to_be_visible()
                expect(page.get_by_text("only requests, django<5")).to_be_visible()
                _fits(page, width)

                # A form from the browser: its CSRF token goes with it; back with a notice.
                name = f"reserved-{width}"
                page.locator("#origin-project").fill(name)
                page.locator('input[name="mode"][value="local"]').check()
                with page.expect_navigation():
                    page.get_by_role("button", name="Set the rule").click()
                expect(page.locator(".notice")).to_have_text(f"The origin rule of {name} is set.")
                _fits(page, width)

                # A refused form: the reason by the form, what was typed kept, still fitting.
                page.locator("#view-name").fill("Not A Valid Name")
                with page.expect_navigation() as nav:
                    page.get_by_role("button", name="Save the view").click()
                assert nav.value is not None and nav.value.status == 400
                expect(page.locator("#view-error")).to_contain_text("Invalid view name")
                expect(page.locator("#view-name")).to_have_value("Not A Valid Name")
                expect(page.locator("#view-name")).to_have_attribute("aria-invalid", "true")
                _fits(page, width)
                _clean(w)
                w.page.context.close()
    with index.db.read() as s:
        names = set(s.scalars(select(MirrorOrigin.normalized_name)))
    assert names == {"corp-secret", "reserved-1280", "reserved-390"}
