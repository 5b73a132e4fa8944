"""The README and the pages tell a new user commands that work as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")
TEMPLATES = ROOT / "src" / "stockade" / "web" / "templates"


def _shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_quick_start_and_test_commands_stay_exactly() -> None:
    lines = _shell_lines()
    assert lines[0] == (
        "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/stockade serve"
    )
    assert lines[1] == "./scripts/test"


def test_bare_stockade_commands_come_after_saying_how_to_get_it_on_path() -> None:
    lines = _shell_lines()
    first_bare = next(i for i, line in enumerate(lines) if line.startswith("stockade "))
    assert any(line.startswith(". .venv/bin/activate") for line in lines[:first_bare])
    intro = README.split("## The first administrator", 1)[0]
    assert "`. .venv/bin/activate`" in intro and "`.venv/bin/stockade`" in intro


def test_twine_is_installed_and_always_verbose() -> None:
    assert "pip install build twine" in README
    pages = [p.read_text("utf-8") for p in TEMPLATES.rglob("*.html")]
    uses = [m for text in [README, *pages] for m in re.findall(r"twine upload[^`<\n]*", text)]
    assert len(uses) >= 5
    for use in uses:
        assert "--verbose" in use or use.endswith("twine upload"), use
    assert "`twine upload --skip-existing`)" not in README


def test_a_user_without_a_password_is_told_how_to_log_in() -> None:
    assert "has no password yet" in README and "/account/reset-password/" in README
