"""Real Chromium (Debian's, never a downloaded one) driven by Playwright's sync API."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Dialog, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """A page and everything it did that a safe page must not: dialogs and script errors.

    Content-Security-Policy violations are logged to the console, so ``console`` lists them too.
    """

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


def watched_page(browser: Browser, *, width: int = 1280, height: int = 900) -> Watched:
    """A new page in a fresh context (own cookies) that records dialogs, errors and console."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watched = Watched(page)

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    page.on("console", lambda msg: watched.console.append(f"{msg.type}: {msg.text}"))
    return watched


# Where a failed layout check leaves its screenshot: $STOCKADE_ARTIFACTS (CI sets it, see
# .ci/run), else test-artifacts/ in the working folder.
ARTIFACTS = Path(os.environ.get("STOCKADE_ARTIFACTS") or "test-artifacts")

# What a page people see must not do at the viewport's width. A table may be wider than the
# screen only inside its .table-scroll box (which scrolls sideways), and at desktop width
# (>= 1280 px) not even there. Text clipped by an overflow:hidden box counts as cut off.
LAYOUT = """(desktop) => {
  const width = document.documentElement.clientWidth;
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (typeof e.className === 'string' && e.className
      ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
  const problems = [];
  if (document.documentElement.scrollWidth > width + 1)
    problems.push(`the page is ${document.documentElement.scrollWidth}px wide in ${width}px`);
  for (const e of document.querySelectorAll('body *')) {
    if (e.closest('.visually-hidden, .skip-link, details:not([open]) > :not(summary)')) continue;
    const box = e.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const style = getComputedStyle(e);
    const scroller =
      e.parentElement && e.parentElement.closest('.table-scroll, pre, .readme table');
    if (!scroller && (box.right > width + 1 || box.left < -1))
      problems.push(`${name(e)} reaches ${Math.round(box.left)}..${Math.round(box.right)}px`);
    if ((style.overflowX === 'hidden' || style.textOverflow === 'ellipsis') &&
        e.scrollWidth > e.clientWidth + 1 && !e.matches('svg, svg *'))
      problems.push(`${name(e)} cuts its content off`);
    if (desktop && e.matches('.table-scroll') && e.scrollWidth > e.clientWidth + 1)
      problems.push(`${name(e)} needs a sideways scroll at desktop width`);
  }
  return problems.slice(0, 15);
}"""


def layout_problems(page: Page) -> list[str]:
    """What does not fit on ``page`` at its viewport's width (empty: everything fits)."""
    width = page.viewport_size["width"] if page.viewport_size else 1280
    return list(page.evaluate(LAYOUT, width >= 1280))


def assert_fits(watched: Watched, label: str) -> None:
    """The page fits its viewport and logged no error; otherwise keep a full-page screenshot
    under ARTIFACTS, named by ``label`` and the width, and fail naming what is wrong."""
    page = watched.page
    problems = layout_problems(page)
    errors = [m for m in watched.console if m.startswith("error:")] + watched.errors
    if problems or errors:
        width = page.viewport_size["width"] if page.viewport_size else 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-") or "page"
        shot = ARTIFACTS / f"{slug}-{width}px.png"
        page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{label} at {width}px ({page.url}): {problems + errors}; see {shot}")
