"""The lifecycle command line: yank, unyank, delete, restore, archive, unarchive, show.

A few commands run as the real ``stockade`` script (``run_cli``); the rest run the same Typer
application in this process, which is much faster than a new interpreter per command."""

from __future__ import annotations

import json

from sqlalchemy import select

from stockade.events.models import Event
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.cli import cli
from support.index import Index, run_cli

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def _show(index: Index) -> dict[str, object]:
    r = cli(index, "project", "show", "demo", "--json")
    assert r.returncode == 0, r.stderr
    doc: dict[str, object] = json.loads(r.stdout)
    return doc


def _simple(index: Index) -> dict[str, object]:
    # The CLI is another process: this worker learns of its changes from the journal.
    index.app.context.pages.poll_once()
    r = index.client.get("/simple/demo/", headers=JSON)
    return r.json() if r.status_code == 200 else {"status_code": r.status_code}


def test_lifecycle_commands(index: Index) -> None:
    token = index.token("alice")
    for content, name in (
        (wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")),
        (sdist_bytes("demo", "1.0"), sdist_name("demo", "1.0")),
        (wheel_bytes("demo", "2.0"), wheel_name("demo", "2.0")),
    ):
        assert index.upload(content, name, token=token).status_code == 200
    real = run_cli(index, "project", "show", "demo", "--json")
    assert real.returncode == 0, real.stderr
    shown = json.loads(real.stdout)
    assert shown == _show(index)
    assert shown["name"] == "demo" and shown["status"] == "active" and shown["critical"] is False
    releases = shown["releases"]
    assert isinstance(releases, list)
    assert [r["version"] for r in releases] == ["2.0", "1.0"]
    one = releases[1]
    assert one["yanked"] is False and one["yanked_reason"] is None and one["deleted"] is False
    files = {f["filename"]: f for f in one["files"]}
    assert set(files) == {"demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz"}
    wheel = files["demo-1.0-py3-none-any.whl"]
    assert set(wheel) == {"filename", "sha256", "size", "upload_time", "deleted"}
    assert len(wheel["sha256"]) == 64 and wheel["size"] > 0 and wheel["deleted"] is False

    r = run_cli(index, "release", "yank", "demo", "2.0", "--reason", "bad build")
    assert r.returncode == 0, r.stderr
    assert "yanked demo 2.0" in r.stderr
    two = _show(index)["releases"][0]  # type: ignore[index]
    assert two["yanked"] is True and two["yanked_reason"] == "bad build"
    assert {f["yanked"] for f in _simple(index)["files"] if "2.0" in f["filename"]} == {  # type: ignore[attr-defined]
        "bad build"
    }
    r = cli(index, "release", "unyank", "demo", "2.0")
    assert r.returncode == 0, r.stderr
    again = cli(index, "release", "unyank", "demo", "2.0")
    assert again.returncode == 1 and "is not yanked" in again.stderr

    # Deletion needs --yes; then the file, a release, the project.
    r = cli(index, "project", "delete", "demo", "--file", "demo-1.0.tar.gz")
    assert r.returncode == 1 and "--yes" in r.stderr
    r = cli(index, "project", "delete", "demo", "--file", "demo-1.0.tar.gz", "--yes")
    assert r.returncode == 0, r.stderr
    r = cli(index, "project", "delete", "demo", "2.0", "--yes")
    assert r.returncode == 0, r.stderr
    r = cli(index, "project", "delete", "demo", "--yes")
    assert r.returncode == 0, r.stderr
    assert _simple(index) == {"status_code": 404}
    shown = _show(index)
    assert shown["status"] == "deleted"
    assert all(r["deleted"] for r in shown["releases"])  # type: ignore[attr-defined]

    # Human output (no --json) lists the same.
    table = cli(index, "project", "show", "demo")
    assert table.returncode == 0 and "deleted" in table.stdout and "demo-1.0.tar.gz" in table.stdout

    r = run_cli(index, "admin", "restore", "demo")
    assert r.returncode == 0, r.stderr
    assert "restored project demo (1 releases, 1 files)" in r.stderr
    assert [f["filename"] for f in _simple(index)["files"]] == ["demo-1.0-py3-none-any.whl"]  # type: ignore[attr-defined]
    r = cli(index, "admin", "restore", "demo", "2.0")
    assert r.returncode == 0, r.stderr
    r = cli(index, "admin", "restore", "demo", "--file", "demo-1.0.tar.gz")
    assert r.returncode == 0, r.stderr
    after = _show(index)
    assert after["status"] == "active"
    restored = {f["filename"]: f for r in after["releases"] for f in r["files"]}  # type: ignore[attr-defined]
    assert restored["demo-1.0-py3-none-any.whl"] == wheel  # same hash, size, upload time
    assert not any(f["deleted"] for f in restored.values())
    r = cli(index, "admin", "restore", "demo")
    assert r.returncode == 1 and "is not deleted" in r.stderr

    r = cli(index, "project", "archive", "demo", "--reason", "done")
    assert r.returncode == 0, r.stderr
    assert _simple(index)["project-status"] == {"status": "archived", "reason": "done"}
    assert _show(index)["status"] == "archived"
    r = cli(index, "project", "unarchive", "demo")
    assert r.returncode == 0, r.stderr
    assert _simple(index)["project-status"] == {"status": "active"}

    missing = cli(index, "release", "yank", "nope", "1.0")
    assert missing.returncode == 1 and "no project named 'nope'" in missing.stderr

    with index.db.read() as s:
        events = s.execute(
            select(Event.tag, Event.actor_id, Event.user_agent).where(
                Event.tag.in_(
                    [
                        "release:yank",
                        "release:unyank",
                        "file:delete",
                        "release:delete",
                        "project:delete",
                        "project:restore",
                        "release:restore",
                        "file:restore",
                        "project:archive",
                        "project:unarchive",
                    ]
                )
            )
        ).all()
    assert len(events) == 10
    assert all(actor is None and agent == "stockade-cli" for _, actor, agent in events)
