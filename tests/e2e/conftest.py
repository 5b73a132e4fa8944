"""A live `stockade serve` (two workers) and clean environments for real pip, uv and twine."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.backend import backend_overrides
from support.builders import wheel_bytes, wheel_name
from support.index import free_port, upload_fields
from support.servers import PostgresServer, SeaweedServer, start_postgres, start_seaweed

BIN = Path(sys.executable).parent


def client_env(**extra: str) -> dict[str, str]:
    """The environment for an installer: nothing from this machine's pip/uv configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE="/dev/null",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CONFIG="1",
        PIP_NO_INPUT="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def run(
    args: list[str], *, timeout: float = 300, check: bool = True, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=kwargs.pop("env", client_env()),
        **kwargs,
    )  # type: ignore[call-overload]
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args[:3]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def pip_install(url: str, target: Path, *requirements: str) -> None:
    """Real pip installs ``requirements`` (no dependencies) from the index at ``url`` into the
    folder ``target``."""
    run(
        [str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--target", str(target),
         "--index-url", f"{url}/simple/", *requirements],
        env=client_env(),
    )  # fmt: skip


@dataclass
class LiveServer:
    url: str
    data: Path
    log: Path
    env: dict[str, str]
    token: str

    def stockade(self, *args: str, stdin: str | None = None) -> str:
        return run(
            [str(BIN / "stockade"), *args, "--data", str(self.data)], env=self.env, input=stdin
        ).stdout

    def twine_upload(
        self, files: list[Path], *extra: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``twine upload`` of ``files`` to this server with its token."""
        args = [
            str(BIN / "twine"),
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            f"{self.url}/legacy/",
            "-u",
            "__token__",
            "-p",
            self.token,
        ]
        return run([*args, *extra, *map(str, files)], timeout=600, check=check)

    def requested_paths(self) -> list[str]:
        """Every path the server was asked for (from its access log)."""
        paths = []
        for line in self.log.read_text(errors="replace").splitlines():
            if '"GET ' in line:
                paths.append(line.split('"GET ', 1)[1].split(" ", 1)[0])
        return paths


@contextlib.contextmanager
def stockade_serve(
    data: Path,
    env: dict[str, str],
    log: Path,
    *args: str,
    scheme: str = "http",
    verify: ssl.SSLContext | bool = True,
) -> Iterator[str]:
    """`stockade serve --data DATA ARGS…` in a subprocess (output to ``log``) until its health
    check answers; yields its base URL and stops it afterwards."""
    with spawn_serve(data, env, log, *args, scheme=scheme, verify=verify) as (_, url):
        yield url


@contextlib.contextmanager
def spawn_serve(
    data: Path,
    env: dict[str, str],
    log: Path,
    *args: str,
    scheme: str = "http",
    verify: ssl.SSLContext | bool = True,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """As :func:`stockade_serve`, yielding the server's process too (to watch it die)."""
    port = free_port()
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [str(BIN / "stockade"), "serve", "--data", str(data), "--port", str(port), *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_health/", timeout=2, verify=verify).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stockade serve did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer | None,
    seaweed: SeaweedServer | None,
) -> Iterator[LiveServer]:
    """`stockade serve --workers 2` in a subprocess, with a user and a token."""
    data = tmp_path_factory.mktemp("live")
    overrides, name = backend_overrides(postgres, seaweed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update({f"STOCKADE_{k.upper()}": v for k, v in overrides.items()})
    env["STOCKADE_ACCESS_LOG"] = "1"
    # Jobs run when a test asks for them, never on the scheduler's clock: the critical-projects
    # job makes stockade's own dependencies (six, urllib3 … in the corpus) critical, and then
    # uploads to them need 2FA — a test must not depend on whether the job ran first.
    env["STOCKADE_SCHEDULER"] = "0"
    log = data / "server.log"
    try:
        with stockade_serve(data, env, log, "--workers", "2") as url:
            server = LiveServer(url, data, log, env, "")
            server.stockade(
                "user",
                "create",
                "alice",
                "--email",
                "alice@example.test",
                "--password-stdin",
                stdin="correct horse battery\n",
            )
            server.token = server.stockade("token", "create", "alice").strip()
            yield server
    finally:
        if postgres is not None:
            postgres.drop_database(name)


def instance_env(overrides: dict[str, str]) -> dict[str, str]:
    """The `stockade` command's environment for an index with these database/storage
    settings: nothing from this machine's STOCKADE_* variables, and no scheduled jobs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update({f"STOCKADE_{k.upper()}": v for k, v in overrides.items()})
    env["STOCKADE_SCHEDULER"] = "0"
    return env


class Instance:
    """A data folder on some backend, with the `stockade` command's environment."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        self.data = data
        self.env = env

    def stockade(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        return run(
            [str(BIN / "stockade"), *args, "--data", str(self.data)],
            env=self.env,
            input=stdin,
            check=check,
        ).stdout

    def token(self) -> str:
        """alice, with a password, and an API token of hers. On a new instance the data folder
        is created first (`db migrate`: the CLI creates one only for serve, migrate, restore)."""
        if not self.data.exists():
            self.stockade("db", "migrate")
        self.stockade(
            "user", "create", "alice", "--email", "a@example.test", "--password-stdin",
            stdin="correct horse battery\n",
        )  # fmt: skip
        return self.stockade("token", "create", "alice").strip()

    @contextlib.contextmanager
    def serve(self, *args: str) -> Iterator[str]:
        with stockade_serve(self.data, self.env, self.data.parent / "serve.log", *args) as url:
            yield url


@pytest.fixture
def make_instance(
    tmp_path: Path, postgres: PostgresServer | None, seaweed: SeaweedServer | None
) -> Iterator[object]:
    """``make_instance(label)``: a new index (a data folder on this run's backend)."""
    names: list[str] = []

    def make(label: str) -> Instance:
        overrides, name = backend_overrides(postgres, seaweed)
        names.append(name)
        (tmp_path / label).mkdir()
        return Instance(tmp_path / label / "data", instance_env(overrides))

    yield make
    if postgres is not None:
        for name in names:
            postgres.drop_database(name)


def upload_wheel(
    url: str, token: str, name: str, version: str, *, auth: str | None = None, content: bytes = b""
) -> int:
    """A legacy upload of a small wheel (or ``content``) with the token; the status code."""
    content = content or wheel_bytes(name, version)
    filename = wheel_name(name, version)
    r = httpx.post(
        f"{url}/legacy/",
        data=upload_fields(content, filename),
        files={"content": (filename, content, "application/octet-stream")},
        auth=("__token__", auth if auth is not None else token),
        timeout=60,
    )
    return r.status_code


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer | None,
    seaweed: SeaweedServer | None,
) -> Iterator[tuple[PostgresServer, SeaweedServer]]:
    """This run's PostgreSQL and S3 servers, or (on a SQLite run) new ones: for the tests
    that move an index from one backend to the other."""
    if postgres is not None and seaweed is not None:
        yield postgres, seaweed
        return
    pg = start_postgres(tmp_path_factory.mktemp("pg"))
    weed = start_seaweed(tmp_path_factory.mktemp("weed"))
    try:
        yield pg, weed
    finally:
        weed.stop()
        pg.stop()


@contextlib.contextmanager
def across_backends(
    tmp_path: Path, servers: tuple[PostgresServer, SeaweedServer], labels: tuple[str, ...]
) -> Iterator[dict[str, Instance]]:
    """One index per label: on PostgreSQL + S3 when the label starts with "postgres", else on
    SQLite + local files. Downloads (snapshots fetch every file) reach the database only at
    shutdown, not midway through a snapshot or a copy: the JSON API's counts compare exactly."""
    pg, weed = servers
    names = []
    made = {}
    for label in labels:
        overrides: dict[str, str] = {"download_flush_interval": "3600"}
        if label.startswith("postgres"):
            extra, name = backend_overrides(pg, weed)
            names.append(name)
            overrides.update(extra)
        (tmp_path / label).mkdir()
        made[label] = Instance(tmp_path / label / "data", instance_env(overrides))
    try:
        yield made
    finally:
        for name in names:
            pg.drop_database(name)


JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"


def snapshot(url: str) -> dict[str, object]:
    """What the index serves: its simple pages (both formats), JSON API and every file."""
    seen: dict[str, object] = {}
    root = httpx.get(f"{url}/simple/", headers={"Accept": JSON_ACCEPT}).json()
    names = sorted(p["name"] for p in root["projects"])
    seen["root"] = names
    for name in names:
        page = httpx.get(f"{url}/simple/{name}/", headers={"Accept": JSON_ACCEPT})
        html = httpx.get(f"{url}/simple/{name}/", headers={"Accept": "text/html"})
        assert page.status_code == html.status_code == 200
        seen[f"simple/{name}"] = page.json()
        seen[f"html/{name}"] = html.text
        api = httpx.get(f"{url}/pypi/{name}/json")
        assert api.status_code == 200
        seen[f"api/{name}"] = json.loads(api.text.replace(url, "BASE"))
        for file in page.json()["files"]:
            got = httpx.get(httpx.URL(f"{url}/simple/{name}/").join(file["url"]))
            assert got.status_code == 200
            seen[f"file/{file['filename']}"] = got.content
    return seen
