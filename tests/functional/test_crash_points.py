"""Crash consistency: every write killed (SIGKILL) at each of its fault points
(:mod:`stockade.faults`), then restarted.

For each point, on one data folder: the action runs in a real subprocess (``stockade serve
--workers 1`` for an upload, the ``stockade`` command for the operator's actions) with
``STOCKADE_FAULT`` naming the point, and must die by SIGKILL there. Then:

- at once, before any restart: ``fsck`` finds nothing (a blob stored before the kill is held,
  within the grace period; the killed request's spool is younger than ``spool_max_age``);
- after restarting ``stockade serve`` (which empties the spool folder at start): the killed
  upload's spool is gone, ``stockade admin fsck --json`` exits 0 with no problem, and the
  database, the simple page and the JSON API show either the whole action or none of it (for
  a point before the commit: exactly what they showed before);
- a retry of the action succeeds and is seen alike by all three, ``fsck`` still finds nothing,
  and an orphan sweep with no grace leaves storage holding exactly the referenced blobs.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from e2e.conftest import spawn_serve
from stockade import faults
from stockade.events.services import CLI
from stockade.index.models import File, Project, Release
from stockade.lifecycle.deletion import delete_release
from stockade.storage.holds import BlobHold
from stockade.upkeep.fsck import fsck
from stockade.upkeep.references import BLOB_PREFIX, all_referenced, digest_of
from stockade.upkeep.sweep import sweep_orphans
from support.builders import wheel_bytes, wheel_name
from support.index import Index, cli_env, run_cli, upload_fields

NAME = "crashy"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
KILLED = -signal.SIGKILL
Views = tuple[Any, Any, Any]


@dataclass(frozen=True)
class Action:
    """One write: how to prepare its data folder, and how to run it against a server."""

    prepare: Callable[[Index], None]
    run: Callable[[Index, str, dict[str, str]], int]
    # Run through `stockade serve` (else through the `stockade` command).
    on_server: bool


def _upload_file(index: Index, version: str) -> None:
    content = wheel_bytes(NAME, version)
    assert index.upload(content, wheel_name(NAME, version)).status_code == 200


def _prepare_release(index: Index) -> None:
    _upload_file(index, "1.0")
    _upload_file(index, "1.1")


def _prepare_deleted(index: Index) -> None:
    _prepare_release(index)
    with index.db.write() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == NAME))
        assert project is not None
        delete_release(session, project, "1.0", origin=CLI, actor_id=None, admin=True)


@functools.cache
def _release_2_0() -> bytes:
    """The uploaded wheel: the same bytes on retry (its members' times are the clock's)."""
    return wheel_bytes(NAME, "2.0")


def _upload(index: Index, url: str, env: dict[str, str]) -> int:
    """POST /legacy/ the new release 2.0 (on the server at ``url``); its status, or the
    signal's negated number when the connection died with the server."""
    content = _release_2_0()
    filename = wheel_name(NAME, "2.0")
    try:
        response = httpx.post(
            f"{url}/legacy/",
            data=upload_fields(content, filename),
            files={"content": (filename, content, "application/octet-stream")},
            auth=("__token__", index.token()),
            timeout=60,
        )
    except httpx.TransportError:
        return KILLED
    return response.status_code


def _cli(*args: str) -> Callable[[Index, str, dict[str, str]], int]:
    def run(index: Index, url: str, env: dict[str, str]) -> int:
        proc = run_cli(index, *args, **env)
        assert proc.returncode in (0, KILLED), proc.stderr
        return 200 if proc.returncode == 0 else KILLED

    return run


UPLOAD = Action(lambda index: _upload_file(index, "1.0"), _upload, on_server=True)
ACTIONS = {
    "upload": UPLOAD,
    "yank": Action(_prepare_release, _cli("release", "yank", NAME, "1.0"), on_server=False),
    "delete": Action(
        _prepare_release, _cli("project", "delete", NAME, "1.0", "--yes"), on_server=False
    ),
    "restore": Action(_prepare_deleted, _cli("admin", "restore", NAME, "1.0"), on_server=False),
    "quarantine": Action(_prepare_release, _cli("admin", "quarantine", NAME), on_server=False),
}
# The action that passes each point; page publishing is exercised by an upload.
DRIVER = {point: point.split(":")[0] for point in faults.POINTS}
DRIVER.update({"page:rendered": "upload", "page:published": "upload"})
COMMITTED = {"upload:after-commit", "page:published"}


def test_every_fault_point_has_an_action_and_is_placed_in_the_code() -> None:
    source = Path(faults.__file__).parent
    placed = {
        point
        for path in source.rglob("*.py")
        for point in faults.POINTS
        if f'faults.point("{point}")' in path.read_text()
    }
    assert placed == set(faults.POINTS)
    assert set(DRIVER.values()) == set(ACTIONS)


def test_an_unknown_fault_point_refuses_to_arm() -> None:
    with pytest.raises(RuntimeError, match="unknown fault points: upload:nowhere"):
        faults._armed("upload:after-put, upload:nowhere")
    assert faults._armed(" upload:after-put ,page:rendered") == {
        "upload:after-put",
        "page:rendered",
    }


def _spools(index: Index) -> list[Path]:
    return [p for p in index.settings.tmp_dir.iterdir() if p.is_file()]


def _settled(index: Index, http: httpx.Client | TestClient, old: Views | None) -> Views:
    """The views once the pages have followed a change from ``old`` (a few poll intervals):
    the three agree (:func:`_agree`), and stay so."""
    deadline = time.monotonic() + 10
    views = _views(index, http)
    while (views == old or not _agree(views)) and time.monotonic() < deadline:
        time.sleep(0.05)
        views = _views(index, http)
    assert views != old and _agree(views), views
    time.sleep(0.5)  # a few poll intervals: nothing changes any more
    assert _views(index, http) == views
    return views


def _agree(views: Views) -> bool:
    """The simple page shows what the database holds (a quarantined project without its files,
    PEP 792), and the JSON API the same files (a quarantined project not at all)."""
    database, simple, json_api = views
    if database is None:
        return simple is None and json_api is None
    status, files = database
    if status == "quarantined":
        return simple == (status, []) and json_api is None
    return simple == database and json_api == files


def _views(index: Index, http: httpx.Client | TestClient) -> Views:
    """What the database, the simple page and the JSON API say of the project: its status and
    its live files with their yank flags (None: not there)."""
    with index.db.read() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == NAME))
        database: Any = None
        if project is not None and project.deletion_id is None:
            rows = session.execute(
                select(File.filename, Release.yanked)
                .join(Release, Release.id == File.release_id)
                .where(
                    File.project_id == project.id,
                    File.deletion_id.is_(None),
                    Release.deletion_id.is_(None),
                )
            )
            database = (project.status, sorted((r.filename, r.yanked) for r in rows))
    page = http.get(f"/simple/{NAME}/", headers={"Accept": SIMPLE_JSON})
    simple: Any = None
    if page.status_code != 404:
        assert page.status_code == 200, page.text
        doc = page.json()
        simple = (
            doc.get("project-status", {}).get("status", "active"),
            # PEP 691: a string (the reason, maybe empty) also means yanked.
            sorted((f["filename"], f.get("yanked", False) is not False) for f in doc["files"]),
        )
    api = http.get(f"/pypi/{NAME}/json")
    json_api: Any = None
    if api.status_code != 404:
        assert api.status_code == 200, api.text
        releases = api.json()["releases"]
        json_api = sorted(
            (f["filename"], bool(f["yanked"])) for files in releases.values() for f in files
        )
    return database, simple, json_api


def _fsck_clean(index: Index) -> None:
    report = fsck(index.settings, index.db, index.app.context.storage)
    assert report.ok and report.problems == [], report.as_dict()


def _storage_is_referenced_blobs(index: Index) -> None:
    storage = index.app.context.storage
    sweep_orphans(index.db, storage, grace=dt.timedelta(0))
    stored = {digest_of(k) for k in storage.iter_keys(BLOB_PREFIX)}
    with index.db.read() as session:
        assert stored == set(all_referenced(session))
        assert list(session.scalars(select(BlobHold.key))) == []


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(faults.POINTS))
def test_a_kill_at_each_fault_point_leaves_nothing_partial(index: Index, point: str) -> None:
    action = ACTIONS[DRIVER[point]]
    action.prepare(index)
    before = _views(index, index.client)
    if not action.on_server:
        assert action.run(index, "", {faults.ENV: point}) == KILLED
        _fsck_clean(index)
        # The next command is the restart; this process's app reads what it left.
        _recover_and_retry(index, point, action, "", index.client, before)
        return

    data = index.settings.data_dir
    env = cli_env(index, STOCKADE_SCHEDULER="0", STOCKADE_CACHE_POLL_INTERVAL="0.1")
    with spawn_serve(data, {**env, faults.ENV: point}, data / "crash.log", "--workers", "1") as (
        proc,
        url,
    ):
        assert action.run(index, url, {}) == KILLED
        assert proc.wait(timeout=30) == KILLED
    # Killed inside the upload, the request leaves its spool behind; young, it breaks no
    # invariant until it is older than spool_max_age.
    assert bool(_spools(index)) == (point != "page:published")
    _fsck_clean(index)
    with (
        spawn_serve(data, env, data / "after.log", "--workers", "1") as (_, url),
        httpx.Client(base_url=url, timeout=10, headers={"Connection": "close"}) as http,
    ):
        assert not _spools(index), "the restart empties the spool folder"
        _recover_and_retry(index, point, action, url, http, before)


def _recover_and_retry(
    index: Index,
    point: str,
    action: Action,
    url: str,
    http: httpx.Client | TestClient,
    before: Views,
) -> None:
    """After the restart: fsck, all or nothing, a retry, and no blob left behind."""
    proc = run_cli(index, "admin", "fsck", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["problems"] == []

    recovered = _settled(index, http, None)
    if point not in COMMITTED:
        assert recovered == before

    assert action.run(index, url, {}) == 200
    # A server's cached page follows an operator's change from the journal.
    done = _settled(index, http, before)
    assert done != before
    if point in COMMITTED:
        assert done == recovered
    _fsck_clean(index)
    _storage_is_referenced_blobs(index)
