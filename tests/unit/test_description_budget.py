"""A large description is rendered once, at upload, under a CPU budget (reStructuredText's cost
grows faster than its size: a 1 MiB README took 12 s to render here)."""

from __future__ import annotations

import time

from stockade.dists.readme import RENDER_CHECK_MIN_BYTES, render_refusal
from support.builders import readme_text as _text


def test_small_descriptions_are_not_checked() -> None:
    started = time.monotonic()
    small = _text(RENDER_CHECK_MIN_BYTES - 1024, rst=True)
    assert render_refusal(small, "text/x-rst", budget=0.001) is None
    assert time.monotonic() - started < 0.5  # no child process


def test_a_large_readme_that_renders_in_time_passes() -> None:
    assert render_refusal(_text(300_000, rst=False), "text/markdown", budget=20) is None


def test_a_readme_over_its_budget_is_refused() -> None:
    started = time.monotonic()
    refusal = render_refusal(_text(600_000, rst=True), None, budget=1)
    assert refusal == (
        "The description failed to render for 'text/x-rst' within 1 seconds. "
        "See https://pypi.org/help/#description-content-type for more information."
    )
    # The child was stopped at its budget, not left to finish (~6 s of CPU here).
    assert time.monotonic() - started < 5


def test_no_budget_checks_nothing() -> None:
    assert render_refusal(_text(600_000, rst=True), None, budget=0) is None
