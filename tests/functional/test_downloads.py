"""Download counting: full GETs of distribution files count, per project, type and day;
sidecars, HEAD, range reads and 304s do not; counts are written in batches and on shutdown;
the JSON API, the project page and `stockade project show --json` report them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from stockade.config import Settings
from stockade.db import Database
from stockade.index.models import File, Project
from stockade.stats.counter import DownloadCounter
from stockade.stats.counts import add_counts, recent_downloads, today
from stockade.stats.models import DownloadCount, DownloadTotal
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index, run_cli

JSON = "application/vnd.pypi.simple.v1+json"


def publish(index: Index) -> dict[str, str]:
    """Project demo 1.0 with a wheel and an sdist; returns their URLs by kind."""
    assert index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
    assert index.upload(sdist_bytes("demo", "1.0"), sdist_name("demo", "1.0")).status_code == 200
    doc = index.client.get("/simple/demo/", headers={"Accept": JSON}).json()
    urls = {f["filename"]: f["url"].replace("../..", "") for f in doc["files"]}
    return {"whl": urls[wheel_name("demo", "1.0")], "sdist": urls[sdist_name("demo", "1.0")]}


def counts(index: Index) -> dict[tuple[str, dt.date], int]:
    with index.db.read() as s:
        return {(r.packagetype, r.day): r.count for r in s.scalars(select(DownloadCount))}


def test_what_counts_is_written_at_shutdown(settings: Settings) -> None:
    # A long flush interval: only the shutdown writes.
    slow = dataclasses.replace(settings, download_flush_interval=3600)
    with Index.open(slow) as index:
        urls = publish(index)
        whl, sdist = urls["whl"], urls["sdist"]
        for _ in range(3):
            assert index.client.get(whl).status_code == 200
        assert index.client.get(sdist).status_code == 200
        etag = index.client.get(sdist).headers["etag"]
        # None of these count.
        assert index.client.get(whl + ".metadata").status_code == 200
        assert index.client.head(whl).status_code == 200
        assert index.client.get(whl, headers={"Range": "bytes=0-99"}).status_code == 206
        assert index.client.get(whl, headers={"Range": "bytes=-300"}).status_code == 206
        assert index.client.get(sdist, headers={"If-None-Match": etag}).status_code == 304
        assert index.client.get(whl.replace("demo-1.0", "demo-9.9")).status_code == 404
        assert counts(index) == {}
    day = today()
    assert counts(index) == {("bdist_wheel", day): 3, ("sdist", day): 2}
    with index.db.read() as s:
        [total] = s.scalars(select(DownloadTotal)).all()
        assert total.window_total == 5

    # Reported by the JSON API, the project page and the CLI.
    with Index.open(settings) as index:
        info = index.client.get("/pypi/demo/json").json()["info"]
        assert info["downloads"] == {"last_day": 5, "last_week": 5, "last_month": 5}
        release = index.client.get("/pypi/demo/1.0/json").json()["info"]
        assert release["downloads"]["last_month"] == 5
        page = index.client.get("/project/demo/").text
        assert "5 last day · 5 last week · 5 last month" in page
        shown = run_cli(index, "project", "show", "demo", "--json")
        assert shown.returncode == 0, shown.stderr
        doc = json.loads(shown.stdout)
        assert doc["downloads"] == {"last_day": 5, "last_week": 5, "last_month": 5}
        assert doc["critical"] is False


def test_the_background_thread_flushes(settings: Settings) -> None:
    fast = dataclasses.replace(settings, download_flush_interval=0.1)
    with Index.open(fast) as index:
        urls = publish(index)
        assert index.client.get(urls["whl"]).status_code == 200
        deadline = time.monotonic() + 10
        while not counts(index) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counts(index) == {("bdist_wheel", today()): 1}


def test_flush_batches_and_keeps_counts_of_a_failed_write(index: Index) -> None:
    publish(index)
    with index.db.read() as s:
        files = {f.packagetype: f for f in s.scalars(select(File))}
    # A database that cannot be written: the counts stay pending for the next flush.
    broken = DownloadCounter(Database("sqlite:////nonexistent/dir/x.db"))
    broken.hit(files["sdist"].sha256_digest, files["sdist"].filename)
    with pytest.raises(OperationalError):
        broken.flush()
    assert broken.pending == 1

    counter = DownloadCounter(index.db)
    for _ in range(1000):
        counter.hit(files["bdist_wheel"].sha256_digest, files["bdist_wheel"].filename)
    counter.hit(files["bdist_wheel"].sha256_digest, files["bdist_wheel"].filename + ".metadata")
    counter.hit("0" * 64, "gone-1.0.tar.gz")  # no such file: dropped at the flush
    assert counter.pending == 1001
    assert counter.flush() == 1000
    assert counter.pending == 0
    assert counter.flush() == 0
    assert counts(index) == {("bdist_wheel", today()): 1000}


def test_recent_downloads_windows(index: Index) -> None:
    publish(index)
    with index.db.write() as s:
        project = s.scalar(select(Project))
        assert project is not None
        now = today()
        add_counts(
            s,
            {
                (project.id, "sdist", now): 1,
                (project.id, "bdist_wheel", now): 2,
                (project.id, "sdist", now - dt.timedelta(days=6)): 10,
                (project.id, "sdist", now - dt.timedelta(days=7)): 100,
                (project.id, "sdist", now - dt.timedelta(days=29)): 1000,
                (project.id, "sdist", now - dt.timedelta(days=30)): 10000,
            },
        )
        recent = recent_downloads(s, project.id)
    assert recent.as_dict() == {"last_day": 3, "last_week": 13, "last_month": 1113}
