"""Nothing left behind: the spool job, the orphan-blob sweep with its holds, and
`stockade admin fsck` (run as the real command) on this run's backend."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import select

from stockade.catalogue import find_job
from stockade.db.base import utcnow
from stockade.events.services import CLI
from stockade.index.models import File, Project, SimplePage
from stockade.index.paths import blob_key
from stockade.jobs.interface import JobContext
from stockade.jobs.runner import holder_name, run_job
from stockade.lifecycle.deletion import delete_file
from stockade.mail import mailer_from_settings
from stockade.storage.holds import BlobHold, hold_blobs
from support.builders import wheel_bytes, wheel_name
from support.index import Index, run_cli

DAY = dt.timedelta(days=1)


def run(index: Index, name: str) -> list[str]:
    job = find_job(name)
    assert job is not None
    ctx = JobContext(
        settings=index.settings, db=index.db, mailer=mailer_from_settings(index.settings)
    )
    return run_job(ctx, job, holder=holder_name("test")).result.changes


def put_orphan(index: Index, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    index.app.context.storage.put_bytes(blob_key(digest), data)
    return digest


def stored(index: Index, digest: str) -> bool:
    return index.app.context.storage.exists(blob_key(digest))


def upload(index: Index, name: str = "demo", version: str = "1.0") -> File:
    content = wheel_bytes(name, version)
    assert index.upload(content, wheel_name(name, version)).status_code == 200
    with index.db.read() as s:
        row = s.scalar(select(File).where(File.filename == wheel_name(name, version)))
    assert row is not None and row.metadata_sha256 is not None
    return row


def fsck(index: Index, *args: str) -> tuple[int, dict[str, Any]]:
    proc = run_cli(index, "admin", "fsck", "--json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def kinds(report: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return sorted((p["kind"], p["subject"], p["repaired"]) for p in report["problems"])


def test_spool_job_removes_only_abandoned_spools(index: Index) -> None:
    tmp = index.settings.tmp_dir
    (tmp / "mirror").mkdir(parents=True)
    old, fresh = tmp / "upload-old.part", tmp / "upload-fresh.part"
    # A mirror fetch a killed worker left behind, and one still being written.
    old_fetch, live_fetch = tmp / "mirror" / "ab12.old.part", tmp / "mirror" / "cd34.live.part"
    for path in (old, fresh, old_fetch, live_fetch):
        path.write_bytes(b"x" * 1000)
    gone = time.time() - index.settings.spool_max_age - 60
    for path in (old, old_fetch):
        os.utime(path, (gone, gone))
    runs = {"job": "spool-clean", "status": "ok"}
    before = REGISTRY.get_sample_value("stockade_job_runs_total", runs) or 0.0
    changes = run(index, "spool-clean")
    assert REGISTRY.get_sample_value("stockade_job_runs_total", runs) == before + 1
    assert len(changes) == 2
    assert "ab12.old.part" in changes[0] and "upload-old.part" in changes[1]
    assert not old.exists() and not old_fetch.exists()
    assert fresh.exists() and live_fetch.exists()


def test_sweep_deletes_old_orphans_and_keeps_held_referenced_and_deleted_files(
    index: Index,
) -> None:
    live = upload(index, "live")
    gone = upload(index, "gone")
    with index.db.write() as s:
        project = s.scalar(select(Project).where(Project.normalized_name == "gone"))
        assert project is not None
        delete_file(s, project, gone.filename, origin=CLI, actor_id=None, admin=True)
    crashed = put_orphan(index, b"an upload killed before its commit")
    in_flight = put_orphan(index, b"an upload about to commit")
    unseen = put_orphan(index, b"never held by anyone")
    # Every file's hold is old too: age alone must never sweep a referenced blob.
    long_ago = utcnow() - 2 * DAY
    referenced_keys = [
        blob_key(d)
        for f in (live, gone)
        for d in (f.sha256_digest, f.metadata_sha256)
        if d is not None
    ]
    hold_blobs(index.db, [blob_key(crashed), *referenced_keys], now=long_ago)
    hold_blobs(index.db, [blob_key(in_flight)])

    changes = run(index, "orphan-sweep")
    assert changes == [f"deleted orphan blob {blob_key(crashed)}"]
    assert not stored(index, crashed)
    for digest in (in_flight, unseen, live.sha256_digest, gone.sha256_digest):
        assert stored(index, digest)
    assert gone.metadata_sha256 is not None and stored(index, gone.metadata_sha256)
    with index.db.read() as s:
        holds = set(s.scalars(select(BlobHold.key)))
    # The first sighting of the unheld orphan starts its grace period; the holds of the
    # committed files protect nothing any more and are dropped.
    assert holds == {blob_key(in_flight), blob_key(unseen)}

    # A grace period later, the orphans go; the files' blobs never do.
    with index.db.write() as s:
        for hold in s.scalars(select(BlobHold)):
            hold.since = long_ago
    assert sorted(run(index, "orphan-sweep")) == sorted(
        f"deleted orphan blob {blob_key(d)}" for d in (in_flight, unseen)
    )
    for digest in (live.sha256_digest, gone.sha256_digest):
        assert stored(index, digest)


def test_an_upload_of_an_expired_orphans_bytes_keeps_them(index: Index) -> None:
    """The race the holds close: an upload whose bytes are already stored (an orphan past its
    grace) refreshes the hold before its put, a no-op, so the sweep keeps the blob."""
    content = wheel_bytes("again", "1.0")
    digest = put_orphan(index, content)
    hold_blobs(index.db, [blob_key(digest)], now=utcnow() - 2 * DAY)
    assert index.upload(content, wheel_name("again", "1.0")).status_code == 200
    run(index, "orphan-sweep")
    assert stored(index, digest)
    assert index.client.get("/simple/again/").status_code == 200


def test_fsck_clean_index_holds_every_invariant(index: Index) -> None:
    upload(index, "one")
    upload(index, "two")
    code, report = fsck(index)
    assert (code, report["problems"], report["ok"]) == (0, [], True)
    assert report["checked"]["files"] == 2
    assert report["checked"]["metadata sidecars"] == 2
    assert report["checked"]["stored blobs"] == 4
    assert report["checked"]["projects"] == 2


def test_fsck_finds_missing_and_corrupt_blobs(index: Index) -> None:
    missing = upload(index, "missing")
    corrupt = upload(index, "corrupt")
    storage = index.app.context.storage
    storage.delete(blob_key(missing.sha256_digest))
    assert corrupt.metadata_sha256 is not None
    storage.delete(blob_key(corrupt.metadata_sha256))
    storage.put_bytes(blob_key(corrupt.metadata_sha256), b"Metadata-Version: 2.1\nName: evil\n")
    code, report = fsck(index)
    assert code == 1 and report["ok"] is False
    assert kinds(report) == [
        ("corrupt-metadata", corrupt.filename, False),
        ("missing-blob", missing.filename, False),
    ]
    # Nothing to repair from here: the bytes are gone.
    code, report = fsck(index, "--repair")
    assert code == 1 and len(report["problems"]) == 2


def test_fsck_repairs_stale_pages_orphans_and_spools(index: Index) -> None:
    upload(index, "demo")
    with index.db.write() as s:
        page = s.scalar(select(SimplePage).where(SimplePage.normalized_name == "demo"))
        assert page is not None
        page.html = b"<html>not what the database says</html>"
    orphan = put_orphan(index, b"left by a crash")
    held = put_orphan(index, b"an upload in flight")
    hold_blobs(index.db, [blob_key(held)])
    spool = index.settings.tmp_dir / "upload-dead.part"
    spool.write_bytes(b"z" * 10)
    gone = time.time() - index.settings.spool_max_age - 1
    os.utime(spool, (gone, gone))

    code, report = fsck(index)
    assert code == 1
    assert kinds(report) == [
        ("orphan-blob", blob_key(orphan), False),
        ("stale-page", "demo", False),
        ("stale-spool", "upload-dead.part", False),
    ]
    assert report["checked"]["blobs in flight"] == 1

    code, report = fsck(index, "--repair")
    assert code == 0 and report["ok"] is True
    assert [p["repaired"] for p in report["problems"]] == [True, True, True]
    assert not stored(index, orphan) and stored(index, held)
    assert not spool.exists()
    assert fsck(index) == (0, fsck(index)[1])
    assert fsck(index)[1]["problems"] == []
    # The repaired page reaches the running app through the journal.
    deadline = time.monotonic() + 5
    while b"not what the database says" in index.client.get("/simple/demo/").content:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert b"demo-1.0-py3-none-any.whl" in index.client.get("/simple/demo/").content


def test_fsck_text_output_and_progress(index: Index) -> None:
    upload(index, "demo")
    index.app.context.storage.delete(blob_key(upload(index, "other").sha256_digest))
    proc = run_cli(index, "admin", "fsck")
    assert proc.returncode == 1
    assert "files and their blobs" in proc.stderr
    assert "the blob of other-1.0-py3-none-any.whl is missing" in proc.stderr


def test_an_uploads_hold_waits_while_the_sweep_decides(index: Index) -> None:
    """While the sweep holds a key's hold row (deciding whether to delete the blob), an
    upload's hold of the same key waits, and then refreshes it: the upload never goes on to
    its no-op put while the sweep could still delete the blob."""
    digest = put_orphan(index, b"bytes an upload is about to send again")
    key = blob_key(digest)
    old = utcnow() - 2 * DAY
    hold_blobs(index.db, [key], now=old)
    finished: list[dt.datetime] = []
    errors: list[BaseException] = []

    def upload_holds() -> None:
        try:
            hold_blobs(index.db, [key])
            finished.append(utcnow())
        except BaseException as exc:  # reported below: a thread's failure fails the test
            errors.append(exc)

    with index.db.write() as s:
        hold = s.get(BlobHold, key, with_for_update=True)
        assert hold is not None
        thread = threading.Thread(target=upload_holds)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and not finished  # waiting for the sweep's lock
        released = utcnow()
    thread.join(30)
    assert not thread.is_alive() and not errors
    assert finished and finished[0] >= released
    with index.db.read() as s:
        refreshed = s.get(BlobHold, key)
        # Refreshed, so the grace period starts again (PostgreSQL took the time as the
        # statement was sent, SQLite once its write lock was granted).
        assert refreshed is not None and refreshed.since > old + DAY
    # The refreshed hold keeps the blob through the next sweep.
    run(index, "orphan-sweep")
    assert stored(index, digest)
