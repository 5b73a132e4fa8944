"""Upstream files through a live `stockade serve --workers 2`: parallel first downloads share
one upstream fetch (within a worker and across the two), and real pip and uv install through
the mirror."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from e2e.conftest import BIN, run, stockade_serve
from stockade.config import load_settings
from stockade.db import Database
from stockade.db.migrate import upgrade
from stockade.dists import parse_filename
from stockade.mirror.models import MirrorFile
from support.backend import CORPUS, backend_overrides
from support.mirror_upstream import StaticUpstream, index_upstream_file
from support.servers import PostgresServer, SeaweedServer

pytestmark = pytest.mark.e2e

JSON = "application/vnd.pypi.simple.v1+json"

ROWS = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
REQUESTS_SET = [r for r in ROWS if r["notes"].startswith("depset py311-linux")][:5]


@dataclass
class Mirror:
    url: str
    db: Database
    up: StaticUpstream
    data: Path
    env: dict[str, str]

    def stockade(self, *args: str) -> str:
        return run([str(BIN / "stockade"), *args, "--data", str(self.data)], env=self.env).stdout


@pytest.fixture
def mirror(
    tmp_path: Path, postgres: PostgresServer | None, seaweed: SeaweedServer | None
) -> Iterator[Mirror]:
    data = tmp_path / "data"
    overrides, name = backend_overrides(postgres, seaweed)
    settings = load_settings(data, environ={}, overrides=overrides)
    db = Database(settings.database_url)
    upgrade(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update({f"STOCKADE_{k.upper()}": v for k, v in overrides.items()})
    env["STOCKADE_SCHEDULER"] = "0"
    try:
        with (
            StaticUpstream.start(tmp_path / "upstream") as up,
            stockade_serve(data, env, tmp_path / "server.log", "--workers", "2") as url,
        ):
            yield Mirror(url, db, up, data, env)
    finally:
        db.dispose()
        if postgres is not None:
            postgres.drop_database(name)


def _publish(mirror: Mirror, filename: str, data: bytes) -> str:
    mirror.up.add_project(parse_filename(filename).normalized_name, [(filename, data)])
    return index_upstream_file(mirror.db, mirror.up, filename, data)


def test_twenty_parallel_first_downloads_share_one_fetch(mirror: Mirror) -> None:
    """Slow upstream, so every request arrives while the one fetch is under way: early ones
    follow it, late ones get the bytes already received first; requests in the other worker
    wait for the fetch lock and are served from storage."""
    data = os.urandom(2 * 1024 * 1024 + 777)
    path = _publish(mirror, "big-1.0.tar.gz", data)
    mirror.up.set_mode("big-1.0.tar.gz", "slow")

    def download(_: int) -> bytes:
        with httpx.Client(timeout=120) as client:
            r = client.get(mirror.url + path)
            assert r.status_code == 200, r.text
            return r.content

    with ThreadPoolExecutor(20) as pool:
        bodies = list(pool.map(download, range(20)))
    want = hashlib.sha256(data).hexdigest()
    assert [hashlib.sha256(b).hexdigest() for b in bodies] == [want] * 20
    assert mirror.up.gets("big-1.0.tar.gz") == 1
    with mirror.db.read() as session:
        assert session.scalars(select(MirrorFile.cached)).all() == [True]


def _venv(path: Path) -> Path:
    run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    return path / "bin" / "python"


def _installed(python: Path) -> dict[str, str]:
    out = run(
        [str(BIN / "python"), "-m", "pip", "--python", str(python), "list", "--format", "json"]
    )
    return {p["name"].lower(): p["version"] for p in json.loads(out.stdout)}


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_pip_and_uv_install_through_the_mirror(
    mirror: Mirror, tmp_path: Path, installer: str
) -> None:
    for row in REQUESTS_SET:
        _publish(mirror, row["filename"], (CORPUS / "dists" / row["filename"]).read_bytes())
    python = _venv(tmp_path / "venv")
    index = f"{mirror.url}/simple/"
    if installer == "pip":
        args = [str(BIN / "python"), "-m", "pip", "--python", str(python), "install"]
        run([*args, "--no-cache-dir", "--index-url", index, "requests==2.32.3"])
    else:
        args = [str(BIN / "uv"), "pip", "install", "--python", str(python), "--no-cache"]
        run([*args, "--index-url", index, "requests==2.32.3"])
    installed = _installed(python)
    for row in REQUESTS_SET:
        assert installed[row["normalized_name"]] == row["version"]
        assert mirror.up.gets(row["filename"]) == 1
    with mirror.db.read() as session:
        assert all(session.scalars(select(MirrorFile.cached)).all())


def test_wrong_upstream_bytes_break_the_transfer_for_real_clients(
    mirror: Mirror, tmp_path: Path
) -> None:
    """Over real HTTP the response ends without its last bytes: httpx and pip both see a
    broken transfer, never a complete file; once the upstream is right, both succeed."""
    row = next(r for r in ROWS if r["filename"].startswith("urllib3-2.3.0"))
    data = (CORPUS / "dists" / row["filename"]).read_bytes()
    path = _publish(mirror, row["filename"], data)
    mirror.up.set_mode(row["filename"], "corrupt")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(mirror.url + path, timeout=60)
    folder = tmp_path / "dl"
    pip_download = [str(BIN / "python"), "-m", "pip", "download", "--no-deps", "--no-cache-dir"]
    args = [*pip_download, "-d", str(folder), "--index-url", f"{mirror.url}/simple/"]
    failed = run([*args, "urllib3==2.3.0"], check=False)
    assert failed.returncode != 0
    assert not (folder / row["filename"]).exists()
    with mirror.db.read() as session:
        assert session.scalars(select(MirrorFile.cached)).all() == [False]
    mirror.up.set_mode(row["filename"], None)
    run([*args, "urllib3==2.3.0"])
    assert (folder / row["filename"]).read_bytes() == data
    assert httpx.get(mirror.url + path, timeout=60).content == data


def _announced(mirror: Mirror, name: str, filename: str) -> dict[str, object]:
    """The page's entry for ``filename`` once it announces core metadata (the other worker
    follows the change within its journal poll interval)."""
    deadline = time.monotonic() + 15
    while True:
        page = httpx.get(f"{mirror.url}/simple/{name}/", headers={"Accept": JSON}).json()
        [entry] = [f for f in page["files"] if f["filename"] == filename]
        if entry.get("core-metadata") or time.monotonic() > deadline:
            return dict(entry)
        time.sleep(0.2)


def test_the_whole_path_from_an_added_upstream(mirror: Mirror, tmp_path: Path) -> None:
    """No rows written by the test: `stockade mirror add`, then pip through the mirror. The
    upstream gives no core metadata, so the first download of each wheel reads its METADATA:
    the page then announces it (PEP 658) with the right hash, and the JSON API has the md5
    digests the fetch computed."""
    files = {r["filename"]: (CORPUS / "dists" / r["filename"]).read_bytes() for r in REQUESTS_SET}
    for row in REQUESTS_SET:
        mirror.up.add_project(row["normalized_name"], [(row["filename"], files[row["filename"]])])
    mirror.stockade("mirror", "add", "plain", mirror.up.url)
    folder = tmp_path / "dl"
    pip_download = [str(BIN / "python"), "-m", "pip", "download", "--no-cache-dir"]
    run([*pip_download, "-d", str(folder), "--index-url", f"{mirror.url}/simple/", "requests"])
    assert {p.name for p in folder.iterdir()} == set(files)
    for row in REQUESTS_SET:
        name, filename = row["normalized_name"], row["filename"]
        assert mirror.up.gets(filename) == 1
        entry = _announced(mirror, name, filename)
        url = httpx.URL(f"{mirror.url}/simple/{name}/").join(str(entry["url"]))
        meta = httpx.get(str(url) + ".metadata")
        assert meta.status_code == 200
        assert entry["core-metadata"] == {"sha256": hashlib.sha256(meta.content).hexdigest()}
        with zipfile.ZipFile(folder / filename) as whl:
            [inside] = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
            assert whl.read(inside) == meta.content
        info = httpx.get(f"{mirror.url}/pypi/{name}/json").json()
        [described] = [u for u in info["urls"] if u["filename"] == filename]
        assert (
            described["md5_digest"]
            == hashlib.md5(files[filename], usedforsecurity=False).hexdigest()
        )
