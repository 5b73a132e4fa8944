"""The web UI in real Chromium against `stockade serve --workers 2`.

1. A new user's whole path: register, get the verification mail, verify, log in, create a
   token, upload with twine, scope a second token to the new project, upload with it, and find
   the uploads in the account's security history.
2. Project pages: a real wheel's README is rendered; a hostile README runs no script; the pages
   fit a 360-pixel-wide phone screen.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.browser import Watched, chromium, watched_page
from e2e.conftest import LiveServer
from support.backend import CORPUS
from support.builders import metadata_text, wheel_bytes, wheel_name
from support.smtp import links_in, read_outbox

pytestmark = pytest.mark.e2e

PASSWORD = "plum tractor quietly 71 lanterns"
TOKEN_RE = re.compile(r"stockade-[A-Za-z0-9_\-]{20,}")

HOSTILE_README = """\
# Hostile README

<script>window.__xss = "script"</script>
<img src="/favicon-does-not-exist.png" onerror="window.__xss = 'onerror'">
<a href="javascript:window.__xss='javascript'" onclick="window.__xss='onclick'">js link</a>
<a href="data:text/html,<script>alert(1)</script>">data link</a>
<iframe src="data:text/html,<script>parent.__xss='iframe'</script>"></iframe>
<div style="position:fixed;inset:0;z-index:99" onmouseover="window.__xss='hover'">cover</div>
<svg onload="window.__xss = 'svg'"></svg>

[a fine link](https://example.com/fine)
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _wheel(folder: Path, name: str, version: str, description: str = "") -> Path:
    extra = ""
    if description:
        extra = "Description-Content-Type: text/markdown\n\n" + description
    meta = metadata_text(name, version, summary=f"{name} for the browser test", extra=extra)
    path = folder / wheel_name(name, version)
    path.write_bytes(wheel_bytes(name, version, metadata=meta))
    return path


def _verification_mail(outbox: Path, address: str, timeout: float = 15) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while True:
        for message in read_outbox(outbox):
            if message["To"] == address and "Verify" in str(message["Subject"]):
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no verification mail to {address} in {outbox}")
        time.sleep(0.1)


def _submit(page: Page, button: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def _create_token(page: Page, url: str, name: str, project: str | None = None) -> str:
    page.goto(f"{url}/manage/account/tokens/")
    page.locator('input[name="name"]').fill(name)
    if project is None:
        page.locator('input[name="scope"][value="all"]').check()
    else:
        page.locator('input[name="scope"][value="projects"]').check()
        page.locator(f'input[name="projects"][value="{project}"]').check()
    _submit(page, "Create token")
    match = TOKEN_RE.search(page.content())
    assert match, page.content()
    return match.group(0)


def _assert_clean(w: Watched) -> None:
    """No dialog opened, no script error, and nothing the CSP had to block (Chromium logs each
    blocked inline script or handler to the console: sanitizing must have removed them first)."""
    assert w.dialogs == [] and w.errors == [], (w.dialogs, w.errors)
    blocked = [m for m in w.console if "Content Security Policy" in m]
    assert blocked == [], blocked


def test_register_verify_login_token_upload_history(
    live: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    w = watched_page(browser)
    page = w.page
    url = live.url

    # Register.
    page.goto(f"{url}/")
    page.get_by_role("link", name="Register").click()
    expect(page).to_have_url(f"{url}/account/register/")
    page.locator('input[name="username"]').fill("dana")
    page.locator('input[name="full_name"]').fill("Dana Scully")
    page.locator('input[name="email"]').fill("dana@example.test")
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('input[name="password_confirm"]').fill(PASSWORD)
    _submit(page, "Create account")
    expect(page.locator("main")).to_contain_text("dana@example.test")

    # The verification mail arrives; its single-use link verifies the address.
    mail = _verification_mail(live.data / "outbox", "dana@example.test")
    [link] = [u for u in links_in(mail) if "/account/verify-email/" in u]
    assert link.startswith(url)
    page.goto(link)
    expect(page.locator("main")).to_contain_text("verified")

    # Log in (a fresh browser context: no session from registration).
    w = watched_page(browser)
    page = w.page
    page.goto(f"{url}/account/login/")
    page.locator('input[name="username"]').fill("dana")
    page.locator('input[name="password"]').fill(PASSWORD)
    _submit(page, "Log in")
    expect(page.get_by_role("button", name="Log out dana")).to_be_visible()

    # A token for all projects makes the first upload, which creates the project.
    first = _create_token(page, url, "first upload")
    uploader = dataclasses.replace(live, token=first)
    uploader.twine_upload([_wheel(tmp_path, "dana-demo", "1.0")])

    # Then a token scoped to that project uploads the next release, and nothing else.
    scoped = _create_token(page, url, "ci for dana-demo", project="dana-demo")
    scoped_uploader = dataclasses.replace(live, token=scoped)
    scoped_uploader.twine_upload([_wheel(tmp_path, "dana-demo", "1.1")])
    refused = scoped_uploader.twine_upload([_wheel(tmp_path, "dana-other", "1.0")], check=False)
    assert refused.returncode != 0
    assert "403" in refused.stdout + refused.stderr

    # The tokens page lists both, with their scope.
    page.goto(f"{url}/manage/account/tokens/")
    tokens = page.locator("main table")
    expect(tokens).to_contain_text("first upload")
    expect(tokens).to_contain_text("ci for dana-demo")

    # The security history shows the login, the tokens and both uploads.
    page.goto(f"{url}/manage/account/history/")
    history = page.locator("main table")
    expect(history).to_contain_text("dana_demo-1.1-py3-none-any.whl")
    expect(history).to_contain_text("dana_demo-1.0-py3-none-any.whl")
    text = history.inner_text()
    # In sentences, not the stored tags.
    for said in ("dana uploaded dana_demo-1.0-py3-none-any.whl", "dana logged in"):
        assert said in text, (said, text)
    assert "file:upload" not in text and "account:login" not in text, text

    # And the public project page shows the new project, with dana as its owner.
    page.goto(f"{url}/project/dana-demo/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("dana-demo 1.1")
    expect(page.locator("aside")).to_contain_text("dana")
    _assert_clean(w)


def test_readme_rendered_and_inert_and_pages_fit_a_phone(
    live: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    # Uploaded through the API with the token `stockade token create` printed.
    live.twine_upload(
        [
            CORPUS / "dists" / "rich-13.9.4-py3-none-any.whl",
            _wheel(tmp_path, "hostile", "1.0", HOSTILE_README),
        ]
    )
    w = watched_page(browser)
    page = w.page

    page.goto(f"{live.url}/project/rich/")
    readme = page.locator(".readme")
    expect(readme.get_by_role("heading", name="Compatibility")).to_be_visible()
    expect(readme.get_by_role("link", name="English readme")).to_have_attribute(
        "rel", "nofollow ugc"
    )
    expect(page.locator("table.files")).to_contain_text("rich-13.9.4-py3-none-any.whl")

    page.goto(f"{live.url}/project/hostile/")
    readme = page.locator(".readme")
    expect(readme.get_by_role("heading", name="Hostile README")).to_be_visible()
    expect(readme.get_by_role("link", name="a fine link")).to_have_attribute(
        "href", "https://example.com/fine"
    )
    # Hover and click everything a visitor might touch.
    readme.get_by_text("cover").hover()
    readme.get_by_text("js link").click()
    readme.get_by_text("data link").click()
    page.wait_for_timeout(300)
    assert page.url == f"{live.url}/project/hostile/"
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator(".readme script, .readme iframe, .readme svg, .readme [style]").count() == 0
    assert (
        page.evaluate(
            "[...document.querySelectorAll('.readme *')].flatMap(e => [...e.attributes])"
            ".filter(a => a.name.startsWith('on')).length"
        )
        == 0
    )
    _assert_clean(w)

    # A phone: nothing wider than the screen; the skip link is the first thing to focus.
    phone = watched_page(browser, width=360, height=740)
    for path in ("/", "/search/?q=rich", "/project/rich/", "/project/hostile/", "/project/nope/"):
        phone.page.goto(f"{live.url}{path}")
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, (path, width)
    phone.page.keyboard.press("Tab")
    expect(phone.page.locator(".skip-link")).to_be_focused()
    expect(phone.page.locator(".skip-link")).to_be_in_viewport()
    _assert_clean(phone)


def test_search_from_the_home_page(live: LiveServer, browser: Browser, tmp_path: Path) -> None:
    live.twine_upload([_wheel(tmp_path, "searchable-thing", "2.0")])
    w = watched_page(browser)
    page = w.page
    page.goto(f"{live.url}/")
    page.get_by_label("Search projects", exact=True).first.fill("Searchable Thing")
    with page.expect_navigation():
        page.get_by_label("Search projects", exact=True).first.press("Enter")
    assert "/search/?q=Searchable+Thing" in page.url
    results = page.get_by_role("list", name="Search results")
    expect(results.get_by_role("link", name="searchable-thing")).to_be_visible()
    results.get_by_role("link", name="searchable-thing").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("searchable-thing 2.0")
    _assert_clean(w)
