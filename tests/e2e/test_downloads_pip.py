"""Real pip against a live index: a resolve that only reads PEP 658 metadata counts nothing,
`pip download` counts one download of the wheel it fetched; range reads and HEAD count nothing."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from e2e.conftest import run
from stockade.config import Settings
from stockade.stats.counts import today
from stockade.stats.models import DownloadCount
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index

pytestmark = pytest.mark.e2e


def counts(index: Index) -> dict[str, int]:
    with index.db.read() as s:
        return {r.packagetype: r.count for r in s.scalars(select(DownloadCount))}


def settle(index: Index, expected: dict[str, int]) -> dict[str, int]:
    """The counts once the counter has flushed (it does every 0.1 s here)."""
    deadline = time.monotonic() + 10
    while counts(index) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return counts(index)


def pip(*args: str) -> None:
    run([sys.executable, "-m", "pip", *args, "--no-cache-dir", "--disable-pip-version-check"])


def test_real_pip_downloads_count(settings: Settings, tmp_path: Path) -> None:
    fast = dataclasses.replace(settings, download_flush_interval=0.1)
    with Index.open(fast) as index:
        assert (
            index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
        )
        sdist = sdist_bytes("demo", "1.0")
        assert index.upload(sdist, sdist_name("demo", "1.0")).status_code == 200
        with index.live() as url:
            simple = f"{url}/simple/"
            # A dry-run resolve reads the wheel's .metadata sidecar only: no download.
            pip("install", "--dry-run", "--ignore-installed", "--index-url", simple, "demo==1.0")
            # Range reads (how installers peek into wheels) are not downloads either.
            doc = httpx.get(
                f"{url}/simple/demo/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
            ).json()
            whl_url = next(f["url"] for f in doc["files"] if f["filename"].endswith(".whl"))
            whl_url = httpx.URL(f"{url}/simple/demo/").join(whl_url)
            assert httpx.get(whl_url, headers={"Range": "bytes=-200"}).status_code == 206
            assert httpx.get(f"{whl_url}.metadata").status_code == 200
            assert settle(index, {}) == {}

            pip(
                "download",
                "--no-deps",
                "--index-url",
                simple,
                "-d",
                str(tmp_path / "a"),
                "demo==1.0",
            )
            assert (tmp_path / "a" / wheel_name("demo", "1.0")).is_file()
            assert settle(index, {"bdist_wheel": 1}) == {"bdist_wheel": 1}
            # Any client's full GET of the sdist counts; a HEAD does not.
            sdist_url = httpx.URL(f"{url}/simple/demo/").join(
                next(f["url"] for f in doc["files"] if f["filename"].endswith(".tar.gz"))
            )
            assert httpx.head(sdist_url).status_code == 200
            assert httpx.get(sdist_url).content == sdist
            assert settle(index, {"bdist_wheel": 1, "sdist": 1}) == {"bdist_wheel": 1, "sdist": 1}
        info = index.client.get("/pypi/demo/json").json()["info"]
        assert info["downloads"] == {"last_day": 2, "last_week": 2, "last_month": 2}
    with index.db.read() as s:
        assert {r.day for r in s.scalars(select(DownloadCount))} == {today()}
