"""What an operator relies on, against a real `stockade serve` on this run's backend: a private
data folder, spools gone at restart, health that follows the database, metrics summed over
the workers, and a backup restored into a fresh data folder that pip installs from."""

from __future__ import annotations

import contextlib
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

from e2e.conftest import BIN, Instance, client_env, run
from e2e.conftest import upload_wheel as upload
from support.backend import BACKEND
from support.builders import wheel_bytes
from support.servers import PostgresServer


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fresh_data_folder_is_private_and_a_restart_removes_spools(make_instance: object) -> None:
    inst = make_instance("a")  # type: ignore[operator]
    token = inst.token()
    with inst.serve() as url:
        assert upload(url, token, "demo", "1.0") == 200
    data = inst.data
    assert mode(data) == 0o700
    for name in ("stockade.toml", "secret_key"):
        assert mode(data / name) == 0o600, name
    assert mode(data / "tmp") == 0o700
    if BACKEND == "sqlite":
        db = data / "stockade.sqlite3"
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            if path.exists():
                assert mode(path) == 0o600, path
        blobs = [p for p in (data / "files" / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) == 2  # the wheel and its metadata
        for path in blobs:
            assert mode(path) == 0o600, path
        for folder in [data / "files", *(p for p in (data / "files").rglob("*") if p.is_dir())]:
            assert mode(folder) == 0o700, folder
        # What an older version left readable is tightened at the next start.
        db.chmod(0o644)
    data.chmod(0o755)

    # A worker killed mid-upload leaves its spool; the next start removes it.
    spool = data / "tmp" / "upload-killed.part"
    spool.write_bytes(b"x" * 100_000)
    with inst.serve() as url:
        assert not spool.exists()
        assert httpx.get(f"{url}/simple/demo/").status_code == 200
    assert mode(data) == 0o700
    if BACKEND == "sqlite":
        assert mode(data / "stockade.sqlite3") == 0o600


@contextlib.contextmanager
def database_down(inst: Instance, postgres: PostgresServer | None) -> Iterator[None]:
    """The database stops answering: the SQLite file is gone from its place (a failed or
    unmounted disk), or PostgreSQL refuses every connection and drops the open ones."""
    if postgres is None:
        db = inst.data / "stockade.sqlite3"
        aside = inst.data / "moved-away"
        db.rename(aside)
        try:
            yield
        finally:
            aside.rename(db)
        return
    name = inst.env["STOCKADE_DATABASE_URL"].rsplit("/", 1)[1]
    admin_url = postgres.url("postgres").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_health_live_and_ready_follow_the_database(
    make_instance: object, postgres: PostgresServer | None
) -> None:
    inst = make_instance("h")  # type: ignore[operator]
    with inst.serve() as url, httpx.Client(base_url=url) as http:
        for path in ("/_health/live", "/_health/ready", "/_health/"):
            r = http.get(path)
            assert (r.status_code, r.text) == (200, "OK\n"), path
        with database_down(inst, postgres):
            assert http.get("/_health/live").status_code == 200
            for path in ("/_health/ready", "/_health/"):
                r = http.get(path)
                assert r.status_code == 503, path
                assert r.text == "the database is unreachable\n"
        assert http.get("/_health/ready").status_code == 200


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        got = ",".join(sorted((match[2] or "").split(","))) if match[2] else ""
        if got == wanted:
            return float(match[3])
    return 0.0


def test_metrics_sum_every_worker(make_instance: object) -> None:
    inst = make_instance("m")  # type: ignore[operator]
    token = inst.token()
    with inst.serve("--workers", "2") as url, httpx.Client(base_url=url) as http:
        wheel = wheel_bytes("demo", "1.0")
        assert upload(url, token, "demo", "1.0", content=wheel) == 200
        assert upload(url, token, "demo", "1.0", content=wheel) == 200  # again: "exists"
        assert upload(url, token, "demo", "1.1", auth="pypi-not-a-token") == 403
        # New connections, spread by the kernel over both workers.
        for _ in range(30):
            assert httpx.get(f"{url}/simple/demo/").status_code == 200
        # Each worker adds its requests to the shared counters every second.
        deadline = time.monotonic() + 10
        while True:
            text = http.get("/metrics").text
            simple = metric(text, "stockade_http_requests_total", group="simple", status="200")
            if simple >= 30 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert metric(text, "stockade_uploads_total", outcome="created") == 1
        assert metric(text, "stockade_uploads_total", outcome="exists") == 1
        assert metric(text, "stockade_upload_refusals_total", reason="forbidden", status="403") == 1
        assert metric(text, "stockade_http_requests_total", group="simple", status="200") == 30
        assert metric(text, "stockade_http_requests_total", group="upload", status="403") == 1
        lookups = metric(text, "stockade_page_cache_lookups_total", result="hit") + metric(
            text, "stockade_page_cache_lookups_total", result="miss"
        )
        assert lookups == 30
        assert metric(text, "stockade_http_request_duration_seconds_count", group="simple") == 30


def test_backup_then_restore_into_a_fresh_folder_then_pip_install(
    make_instance: object, tmp_path: Path
) -> None:
    source = make_instance("src")  # type: ignore[operator]
    token = source.token()
    backup = tmp_path / "backup"
    with source.serve() as url:
        assert upload(url, token, "demo", "1.0") == 200
        assert upload(url, token, "other", "2.0") == 200
        # Taken while the server runs.
        source.stockade("admin", "backup", str(backup))
    assert (backup / "manifest.json").exists()
    assert len([p for p in (backup / "blobs").rglob("*") if p.is_file()]) == 4

    target = make_instance("dst")  # type: ignore[operator]
    target.stockade("admin", "restore", str(backup))
    # A second restore into the now-full database is refused, changing nothing.
    again = run(
        [str(BIN / "stockade"), "admin", "restore", str(backup), "--data", str(target.data)],
        env=target.env,
        check=False,
    )
    assert again.returncode == 1 and "not empty" in again.stderr
    fsck = target.stockade("admin", "fsck", "--json")
    assert '"ok": true' in fsck
    # The old token still works: the secret key came with the backup.
    with target.serve() as url:
        assert upload(url, token, "demo", "1.1") == 200
        venv = tmp_path / "venv"
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        run(
            [
                str(BIN / "python"), "-m", "pip", "--python", str(venv / "bin" / "python"),
                "install", "--no-cache-dir", "--index-url", f"{url}/simple/",
                "demo==1.0", "other==2.0",
            ],
            env=client_env(),
        )  # fmt: skip
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import demo, other"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
