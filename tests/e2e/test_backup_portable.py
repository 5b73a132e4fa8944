"""A portable backup moves an index between backends: made from SQLite + local files while the
server runs, restored into PostgreSQL + S3, and back again; each time the restored index serves
the same pages and files, keeps its tokens, and fsck finds nothing wrong.

This test needs both backends whichever one the run is on: it reuses the run's PostgreSQL and
S3 servers, or starts its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.conftest import BIN, Instance, across_backends, run, snapshot, upload_wheel
from support.servers import PostgresServer, SeaweedServer


@pytest.fixture
def instances(
    tmp_path: Path, servers: tuple[PostgresServer, SeaweedServer]
) -> Iterator[dict[str, Instance]]:
    with across_backends(tmp_path, servers, ("sqlite-a", "postgres", "sqlite-b")) as made:
        yield made


def check_restored(instance: Instance, backup: Path, token: str, version: str) -> dict[str, object]:
    out = instance.stockade("admin", "restore", str(backup))
    assert out == "" or "restored" in out
    fsck = instance.stockade("admin", "fsck", "--json")
    assert json.loads(fsck)["ok"] is True, fsck
    with instance.serve() as url:
        seen = snapshot(url)
        # The tokens still work: the secret key came along.
        assert httpx.get(f"{url}/simple/").status_code == 200
        return seen | {"token works": upload_wheel(url, token, "after", version)}


def test_portable_backup_moves_an_index_from_sqlite_to_postgres_and_back(
    instances: dict[str, Instance], tmp_path: Path
) -> None:
    source = instances["sqlite-a"]
    # Commands other than serve and db migrate no longer create a data folder.
    source.stockade("db", "migrate")
    source.stockade(
        "user", "create", "alice", "--email", "a@example.test", "--password-stdin",
        stdin="correct horse battery\n",
    )  # fmt: skip
    token = source.stockade("token", "create", "alice").strip()
    with source.serve() as url:
        assert upload_wheel(url, token, "demo", "1.0") == 200
        assert upload_wheel(url, token, "demo", "1.1") == 200
        assert upload_wheel(url, token, "other-thing", "2.0") == 200
        source.stockade("release", "yank", "demo", "1.0", "--reason", "broken")
        before = snapshot(url)
        # Taken while the server runs.
        to_pg = tmp_path / "to-pg"
        source.stockade("admin", "backup", "--portable", str(to_pg))
    manifest = json.loads((to_pg / "manifest.json").read_text())
    assert manifest["database"] == "portable" and manifest["schema"]
    assert (to_pg / "database.jsonl").is_file()
    assert len(manifest["blobs"]) == 6  # three wheels and their METADATA

    pg = instances["postgres"]
    on_pg = check_restored(pg, to_pg, token, "1.0")
    assert on_pg.pop("token works") == 200
    assert on_pg == before

    # And back: from PostgreSQL + S3 (now holding "after" too) into a fresh SQLite folder.
    to_sqlite = tmp_path / "to-sqlite"
    pg.stockade("admin", "backup", "--portable", str(to_sqlite))
    with pg.serve() as url:
        pg_now = snapshot(url)
    assert "after" in pg_now["root"]  # type: ignore[operator]
    back = check_restored(instances["sqlite-b"], to_sqlite, token, "2.0")
    assert back.pop("token works") == 200
    assert back == pg_now


def test_a_native_backup_says_to_use_portable_for_the_other_backend(
    instances: dict[str, Instance], tmp_path: Path
) -> None:
    source = instances["sqlite-a"]
    source.stockade("db", "migrate")
    backup = tmp_path / "native"
    source.stockade("admin", "backup", str(backup))
    refused = run(
        [str(BIN / "stockade"), "admin", "restore", str(backup),
         "--data", str(instances["postgres"].data)],
        env=instances["postgres"].env, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "same kind of database" in refused.stderr
    assert "--portable" in refused.stderr
