"""Concurrent yank, unyank, delete and restore of one release: every call either happens
whole or is refused with its one-line reason, and afterwards the project's size, its live
files and its published simple pages all agree with each other."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stockade.events.services import CLI
from stockade.index.models import File, Project, SimplePage
from stockade.index.render import render_project_html, render_project_json
from stockade.index.state import load_state
from stockade.lifecycle.deletion import delete_release
from stockade.lifecycle.errors import LifecycleError
from stockade.lifecycle.restoration import restore
from stockade.lifecycle.yanking import unyank, yank
from support.builders import wheel_bytes, wheel_name
from support.index import Index

THREADS = 4
ROUNDS = 12


def _operations(name: str) -> list[tuple[str, Callable[[Session, Project], object]]]:
    return [
        ("yank", lambda s, p: yank(s, p, "1.0", "race", origin=CLI, actor_id=None, admin=True)),
        ("unyank", lambda s, p: unyank(s, p, "1.0", origin=CLI, actor_id=None, admin=True)),
        (
            "delete",
            lambda s, p: delete_release(s, p, "1.0", origin=CLI, actor_id=None, admin=True),
        ),
        ("restore", lambda s, p: restore(s, name, "1.0", origin=CLI, actor_id=None)),
    ]


def test_concurrent_lifecycle_changes_of_one_release(index: Index) -> None:
    for version, extra in (("1.0", b"a"), ("1.0", b"b"), ("1.1", b"c")):
        tag = "py3-none-any" if extra != b"b" else "cp311-cp311-manylinux_2_17_x86_64"
        content = wheel_bytes("demo", version, tag=tag, files={"demo/x.bin": extra * 100})
        assert index.upload(content, wheel_name("demo", version, tag)).status_code == 200
    operations = _operations("demo")
    barrier = threading.Barrier(THREADS)
    reports: dict[int, list[str]] = {}
    failures: list[str] = []

    def worker(n: int) -> None:
        rng = random.Random(n)
        done: list[str] = []
        try:
            barrier.wait(timeout=30)
            for _ in range(ROUNDS):
                label, operation = rng.choice(operations)
                try:
                    with index.db.write() as session:
                        project = session.scalar(
                            select(Project).where(Project.normalized_name == "demo")
                        )
                        assert project is not None
                        operation(session, project)
                    done.append(label)
                except LifecycleError as exc:
                    done.append(f"{label} refused: {exc.message}")
        except BaseException as exc:  # anything else is a failure of the test
            failures.append(f"thread {n}: {exc!r}")
        reports[n] = done

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert sorted(reports) == list(range(THREADS)), "a thread did not report"
    assert all(len(r) == ROUNDS for r in reports.values())
    performed = [op for r in reports.values() for op in r if "refused" not in op]
    assert performed, reports
    refusals = [op for r in reports.values() for op in r if "refused" in op]
    assert all("\n" not in op for op in refusals)

    with index.db.read() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None
        live_size = session.scalar(
            select(func.coalesce(func.sum(File.size), 0)).where(
                File.project_id == project.id, File.deletion_id.is_(None)
            )
        )
        assert project.total_size == live_size
        page = session.get(SimplePage, project.id)
        assert page is not None and page.serial == project.last_serial
        state = load_state(session, project)
        assert page.html == render_project_html(state)
        assert page.json == render_project_json(state)
    # And what a worker serves is that page.
    served = index.client.get(
        "/simple/demo/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    assert served.status_code == 200
    assert served.json()["meta"]["_last-serial"] == project.last_serial
