"""Publishing a staged release journals it as one change and renders the project's pages once,
however many files it has."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from stockade.dists import parse_filename
from stockade.index.models import JournalEntry
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index
from support.staging import open_session, publish, stage_file

pytestmark = pytest.mark.e2e


@contextmanager
def page_writes() -> Iterator[list[str]]:
    """The SQL statements that write a project's pages, on any engine, while inside."""
    seen: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.lstrip().split(None, 1)
        if "simple_pages" in statement and words and words[0].upper() in {"INSERT", "UPDATE"}:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", watch)


def test_a_published_release_is_one_journal_run_and_one_page_render(index: Index) -> None:
    alice = index.token("alice")
    assert index.upload(wheel_bytes("many", "1.0"), wheel_name("many", "1.0")).status_code == 200
    release = {
        wheel_name("many", "2.0", tag): wheel_bytes("many", "2.0", tag=tag)
        for tag in ("py3-none-any", "py2.py3-none-any")
    }
    release[sdist_name("many", "2.0")] = sdist_bytes("many", "2.0")
    session = open_session(index, alice, "many", "2.0").json()
    for filename, data in release.items():
        stage_file(index, alice, session, filename, data)
    with index.db.read() as s:
        before = s.scalar(select(JournalEntry.id).order_by(JournalEntry.id.desc()).limit(1))

    with page_writes() as writes:
        assert publish(index, alice, session).status_code == 201
    assert len(writes) == 1, writes

    with index.db.read() as s:
        entries = s.scalars(
            select(JournalEntry).where(JournalEntry.id > before).order_by(JournalEntry.id)
        ).all()
    assert [(e.action, e.version) for e in entries] == [("new release", "2.0")] + [
        (f"add {parse_filename(f).python_version} file {f}", "2.0") for f in sorted(release)
    ]
    page = index.client.get("/simple/many/")
    assert all(f in page.text for f in release)
    assert page.headers["x-pypi-last-serial"] == str(entries[-1].id)
