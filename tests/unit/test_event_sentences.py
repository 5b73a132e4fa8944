"""Events read as sentences wherever people see them."""

from __future__ import annotations

import re
from pathlib import Path

from stockade.events.sentences import PHRASES, sentence

SRC = Path(__file__).resolve().parents[2] / "src" / "stockade"


def test_sentences_with_and_without_details() -> None:
    assert sentence("release:yank", {"version": "1.0", "reason": "broken build"}, "alice") == (
        "alice yanked release 1.0 (broken build)."
    )
    assert sentence("release:yank", {}, "alice") == "alice yanked release."
    assert sentence("account:login:failure", {"reason": "bad_password"}, None) == (
        "Someone failed to log in (bad password)."
    )
    assert sentence("release:restore", {"versions": ["1.0", "1.1"]}, "root") == (
        "root restored releases 1.0, 1.1."
    )
    # A tag with no phrase still reads as words.
    assert sentence("widget:frob:set", {}, "root") == "root widget frob set."


def test_every_recorded_tag_has_a_phrase() -> None:
    """A new event kind must say what it means: its tag gets a phrase here."""
    tags: set[str] = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in re.finditer(r"(?:record|changed)\((.{0,400}?)\)", text, re.S):
            tags.update(re.findall(r'"([a-z_]+(?::[a-z_-]+)+)"', call.group(1)))
    tags.discard("host:port")
    missing = sorted(t for t in tags if t not in PHRASES)
    assert not missing, f"events without a sentence in stockade/events/sentences.py: {missing}"
