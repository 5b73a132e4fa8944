"""Races through live servers, many threads at once; every thread must report (an exception in
one fails the test).

- Eight uploads of one filename, each with other bytes, to `stockade serve --workers 2`: one
  is taken, the others are refused as PyPI refuses them; fsck finds nothing, and the orphan
  sweep (no grace) leaves storage holding exactly the referenced blobs.
- Owners changing each other's roles and removing a maintainer while the operator adds it back:
  no server error, a project never without an owner, and the roles table is exactly what the
  audit log's role events say, one event for every change answered as done.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select
from starlette.testclient import TestClient

from e2e.conftest import spawn_serve
from stockade.accounts.models import User
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import File, Project, Role
from stockade.index.roles import RoleError, RoleNotFound, add_role
from stockade.upkeep.references import BLOB_PREFIX, all_referenced, digest_of
from stockade.upkeep.sweep import sweep_orphans
from support.builders import wheel_bytes, wheel_name
from support.index import (
    Index,
    cli_env,
    csrf_from,
    login_client,
    project_roles,
    run_cli,
    upload_fields,
)

UPLOADERS = 8
ROUNDS = 6
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def _in_threads(work: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run each callable in its own thread, started together; every one's result (or the
    exception that ended it, which fails the test)."""
    barrier = threading.Barrier(len(work), timeout=60)
    results: dict[str, Any] = {}
    failures: dict[str, BaseException] = {}

    def run(name: str, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[name] = fn()
        except BaseException as exc:  # every thread reports
            failures[name] = exc

    threads = [threading.Thread(target=run, args=item) for item in work.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread never finished"
    assert not failures, failures
    assert sorted(results) == sorted(work)
    return results


def test_concurrent_uploads_of_one_filename_one_wins_no_orphan(index: Index) -> None:
    token = index.token()
    filename = wheel_name("racer", "1.0")
    contents = [
        wheel_bytes("racer", "1.0", files={"racer/who.py": f"who = {i}\n".encode()})
        for i in range(UPLOADERS)
    ]
    data = index.settings.data_dir
    env = cli_env(index, STOCKADE_SCHEDULER="0")

    def upload(content: bytes) -> Callable[[], tuple[int, str]]:
        def go() -> tuple[int, str]:
            r = httpx.post(
                f"{url}/legacy/",
                data=upload_fields(content, filename),
                files={"content": (filename, content, "application/octet-stream")},
                auth=("__token__", token),
                timeout=120,
            )
            return r.status_code, r.text

        return go

    with spawn_serve(data, env, data / "serve.log", "--workers", "2") as (_, url):
        results = _in_threads({f"upload {i}": upload(c) for i, c in enumerate(contents)})
        served = httpx.get(f"{url}/simple/racer/", headers={"Accept": SIMPLE_JSON}).json()

    answers = list(results.values())
    assert sorted(status for status, _ in answers) == [200] + [400] * (UPLOADERS - 1), answers
    for status, text in answers:
        if status != 200:
            assert text.startswith(f"File already exists ('{filename}', with blake2_256 hash")
    with index.db.read() as s:
        (row,) = s.scalars(select(File).where(File.filename == filename)).all()
    assert [f["hashes"]["sha256"] for f in served["files"]] == [row.sha256_digest]

    proc = run_cli(index, "admin", "fsck", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["problems"] == []
    # The losers' blobs were held while they raced; without grace the sweep takes them all.
    storage = index.app.context.storage
    swept = sweep_orphans(index.db, storage, grace=dt.timedelta(0))
    losers = {hashlib.sha256(c).hexdigest() for c in contents} - {row.sha256_digest}
    assert set(swept.deleted) <= losers and swept.waiting == []
    stored = {digest_of(k) for k in storage.iter_keys(BLOB_PREFIX)}
    with index.db.read() as s:
        assert stored == set(all_referenced(s))
    assert row.sha256_digest in stored


def _role(index: Index, username: str) -> tuple[int, str] | None:
    with index.db.read() as s:
        row = s.execute(
            select(Role.id, Role.role_name)
            .join(User, User.id == Role.user_id)
            .join(Project, Project.id == Role.project_id)
            .where(User.username == username, Project.normalized_name == "demo")
        ).one_or_none()
    return None if row is None else (row.id, row.role_name)


def _role_events(index: Index, after: int) -> list[tuple[str, str, str]]:
    with index.db.read() as s:
        events = s.scalars(
            select(Event)
            .where(Event.id > after, Event.tag.startswith("project:role:"))
            .order_by(Event.id)
        )
        return [(e.tag, e.details["username"], e.details["role"]) for e in events]


def test_concurrent_role_changes_end_consistent(index: Index) -> None:
    r = index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"), token=index.token())
    assert r.status_code == 200
    bob, carol = index.user("bob"), index.user("carol")
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
        assert project is not None
        for user, role in ((bob, "Owner"), (carol, "Maintainer")):
            add_role(s, project=project, user=user, role_name=role, origin=CLI)
    with index.db.read() as s:
        mark = s.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
    start = project_roles(index)
    clients = {name: login_client(index, name) for name in ("alice", "bob")}
    csrf = {name: csrf_from(client, "/") for name, client in clients.items()}

    def post(actor: str, path: str, **fields: str) -> int:
        client: TestClient = clients[actor]
        response = client.post(
            f"/manage/project/demo/roles/{path}",
            data={"csrf_token": csrf[actor], **fields},
            follow_redirects=False,
        )
        # Done, or refused with a reason: never a server error.
        assert response.status_code in (303, 400, 403, 404), (path, response.text)
        return response.status_code

    def toggle(actor: str, other: str) -> Callable[[], list[int]]:
        """``actor`` flips ``other`` between Owner and Maintainer, ROUNDS times."""

        def go() -> list[int]:
            statuses = []
            for _ in range(ROUNDS):
                found = _role(index, other)
                assert found is not None  # nobody removes owners here
                role_id, role = found
                new = "Maintainer" if role == "Owner" else "Owner"
                statuses.append(post(actor, f"{role_id}/change/", role_name=new))
            return statuses

        return go

    def remove_carol() -> list[int]:
        statuses = []
        for _ in range(ROUNDS):
            found = _role(index, "carol")
            if found is None:  # until the operator adds carol back
                time.sleep(0.1)
                continue
            statuses.append(post("alice", f"{found[0]}/remove/"))
        return statuses

    def operator_adds_carol() -> list[str]:
        outcomes = []
        for _ in range(ROUNDS):
            # Spread over the web threads' requests, which take longer than a service call.
            time.sleep(0.1)
            try:
                with index.db.write() as s:
                    project = s.scalar(select(Project).where(Project.normalized_name == "demo"))
                    assert project is not None
                    add_role(
                        s,
                        project=project,
                        user=carol,
                        role_name="Maintainer",
                        origin=CLI,
                    )
                outcomes.append("added")
            except (RoleError, RoleNotFound) as exc:
                outcomes.append(str(exc))
        return outcomes

    results = _in_threads(
        {
            "alice toggles bob": toggle("alice", "bob"),
            "bob toggles alice": toggle("bob", "alice"),
            "alice removes carol": remove_carol,
            "operator adds carol": operator_adds_carol,
        }
    )

    end = project_roles(index)
    assert "Owner" in end.values(), end
    # The table is what the log says: replay every role event on the starting roles.
    replayed = dict(start)
    events = _role_events(index, mark)
    for tag, username, role in events:
        if tag == "project:role:remove":
            assert replayed.pop(username) == role
        else:
            assert tag in ("project:role:add", "project:role:change"), tag
            replayed[username] = role
    assert replayed == end
    # One event for every change answered as done.
    done = sum(
        statuses.count(303) for name, statuses in results.items() if name != "operator adds carol"
    )
    added = results["operator adds carol"].count("added")
    assert done > 0 and len(events) == done + added, (results, events)
    assert sum(tag == "project:role:add" for tag, _, _ in events) == added
