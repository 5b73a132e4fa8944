"""Soak: a bounded, mixed load against `stockade serve --workers 2`, watched for errors,
read latency, worker memory and freshness across workers.

    flock /tmp/bench.lock .venv/bin/python bench/soak.py --backend sqlite   --duration 600
    flock /tmp/bench.lock .venv/bin/python bench/soak.py --backend postgres --duration 600

Each run starts a fresh index on its backend (SQLite + local files in a temporary data folder,
or a throwaway PostgreSQL and SeaweedFS S3 server started as the test suite starts them), then
for ``--duration`` seconds runs, side by side (asyncio + httpx):

- readers: simple pages (HTML and JSON), the root page, the JSON API and full file downloads,
  each timed;
- installs: real ``uv pip install`` and ``pip install`` into throwaway venvs, with no
  configuration from this machine (``PIP_CONFIG_FILE=/dev/null``, no ``PIP_*``/``UV_*``);
- uploads: a new version every few seconds through ``/legacy/`` with an API token (every
  fifth by ``twine upload``);
- yanks and unyanks through the release page's form, as a logged-in maintainer;
- logins through the login form with its CSRF token (bounded by the login rate limits).

It reports: every error (an unexpected status, a failed command, a refused connection, a
traceback in the server's log); p50/p99 read latency per minute; the RSS of each worker sampled
every few seconds; and freshness: after an upload or a (un)yank answered by one worker, how
long until *every* worker serves the changed simple page. Which worker answered a probe is read
from ``/proc``: the server-side socket of the probe's connection is found in
``/proc/net/tcp`` and looked up among the workers' open files.

The test suite runs :func:`soak` for about a minute (``tests/e2e/test_soak.py``) and asserts
no error and freshness within 1 s; this script runs it for minutes and writes the figures into
``bench/RESULTS.md`` (between the SOAK markers; ``results_md.py`` keeps that block).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from e2e.conftest import client_env, stockade_serve  # noqa: E402
from support.builders import wheel_bytes, wheel_name  # noqa: E402
from support.index import upload_fields  # noqa: E402

BIN = Path(sys.executable).parent
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
PASSWORD = "soak horse battery staple"  # noqa: S105  (a throwaway index's test users)
SOAK_BEGIN, SOAK_END = "<!-- SOAK:BEGIN (written by bench/soak.py) -->", "<!-- SOAK:END -->"
PROJECTS = [f"soak-pkg-{i}" for i in range(4)]
YANK_PROJECT = "soak-yank"
YANK_VERSIONS = ["1.1", "1.2", "1.3"]
# The login form allows 30 attempts per address and 10 per account in 15 minutes.
LOGIN_USERS = [f"soak-login-{i}" for i in range(3)]
LOGIN_INTERVAL = 30.0
FRESHNESS_LIMIT = 1.0
# Idle connections are dropped before uvicorn's keep-alive timeout (5 s) closes them: a request
# sent on a connection the server is closing at that moment fails without an answer.
KEEPALIVE = 3.0


# -- which worker answered -----------------------------------------------------------------------


def _tcp_rows() -> Iterator[list[str]]:
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name) as fh:
            next(fh, None)
            for line in fh:
                yield line.split()


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)


def _socket_fds(pid: int) -> set[str]:
    out = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return out


def worker_pids(port: int) -> list[int]:
    """The uvicorn workers listening on ``port``: the processes holding the listening socket
    whose parent holds it too (the supervisor holds it and does not accept)."""
    inodes = {r[9] for r in _tcp_rows() if r[3] == "0A" and _port_of(r[1]) == port}
    holders = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fds = _socket_fds(int(entry))
            if any(f"socket:[{inode}]" in fds for inode in inodes):
                holders.add(int(entry))
    workers = []
    for pid in holders:
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) in holders:
                workers.append(pid)
    return sorted(workers)


def connection_owner(server_port: int, client_port: int, workers: list[int]) -> int | None:
    """The worker holding the server side of the loopback connection from ``client_port``."""
    inode = next(
        (
            r[9]
            for r in _tcp_rows()
            if _port_of(r[1]) == server_port and _port_of(r[2]) == client_port
        ),
        None,
    )
    if inode is None:
        return None
    link = f"socket:[{inode}]"
    return next((pid for pid in workers if link in _socket_fds(pid)), None)


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, StopIteration), open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return 0


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Change:
    """What one worker-visible change looked like to the probes, per worker: the send time of
    the last probe answered with the old page, and the arrival of the first answered with the
    new one (seconds after the change was answered)."""

    what: str
    stale_until: dict[int, float] = field(default_factory=dict)
    fresh_by: dict[int, float] = field(default_factory=dict)

    @property
    def lower(self) -> float:
        return max(self.stale_until.values(), default=0.0)

    @property
    def upper(self) -> float:
        return max(self.fresh_by.values(), default=float("inf"))


@dataclass
class Report:
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # (seconds since start, latency in seconds) of every read
    reads: list[tuple[float, float]] = field(default_factory=list)
    # (seconds since start, {pid: KiB})
    rss: list[tuple[float, dict[int, int]]] = field(default_factory=list)
    freshness: list[Change] = field(default_factory=list)
    workers: list[int] = field(default_factory=list)

    def error(self, what: str) -> None:
        if len(self.errors) < 1000:
            self.errors.append(what)
        self.counts["errors"] += 1

    def latency_by_minute(self) -> list[dict[str, float]]:
        buckets: dict[int, list[float]] = defaultdict(list)
        for at, seconds in self.reads:
            buckets[int(at // 60)].append(seconds)
        rows = []
        for minute in sorted(buckets):
            values = sorted(buckets[minute])
            rows.append(
                {
                    "minute": minute + 1,
                    "reads": len(values),
                    "p50_ms": 1000 * values[len(values) // 2],
                    "p99_ms": 1000 * values[min(len(values) - 1, int(len(values) * 0.99))],
                }
            )
        return rows

    def rss_summary(self, warmup: float) -> dict[int, dict[str, float]]:
        """Per worker, after ``warmup`` seconds: min, median and max RSS (MiB) and the largest
        deviation from the median, in percent."""
        out = {}
        for pid in self.workers:
            values = [s[pid] / 1024 for at, s in self.rss if at >= warmup and s.get(pid)]
            if not values:
                continue
            mid = statistics.median(values)
            fifth = max(1, len(values) // 5)
            out[pid] = {
                "samples": len(values),
                # Growth: the last fifth's median against the first fifth's (a leak shows here;
                # a transient peak during an upload does not).
                "drift_pct": 100
                * (statistics.median(values[-fifth:]) / statistics.median(values[:fifth]) - 1),
                "over_10pct": sum(1 for v in values if abs(v - mid) > 0.1 * mid),
                "min_mib": min(values),
                "median_mib": mid,
                "max_mib": max(values),
                "spread_pct": 100 * max(abs(v - mid) for v in values) / mid,
            }
        return out

    def summary(self, warmup: float) -> dict[str, Any]:
        lower = [c.lower for c in self.freshness]
        upper = [c.upper for c in self.freshness]
        return {
            "duration_s": round(self.duration, 1),
            "counts": dict(self.counts),
            "errors": self.errors[:50],
            "latency_by_minute": self.latency_by_minute(),
            "rss": {str(k): v for k, v in self.rss_summary(warmup).items()},
            "freshness": {
                "changes": len(self.freshness),
                # A stale page for a probe sent this long after the change (the last, worst).
                "stale_until_max_s": max(lower, default=0.0),
                # Every worker had answered with the new page by then (response time included).
                "fresh_by_p50_s": statistics.median(upper) if upper else 0.0,
                "fresh_by_max_s": max(upper, default=0.0),
                "violations": sum(1 for x in lower if x >= FRESHNESS_LIMIT),
                "slowest": [
                    {
                        "change": c.what,
                        "stale_until": {str(p): round(t, 3) for p, t in c.stale_until.items()},
                        "fresh_by": {str(p): round(t, 3) for p, t in c.fresh_by.items()},
                    }
                    for c in sorted(self.freshness, key=lambda c: -c.upper)[:5]
                ],
            },
        }


class Soak:
    def __init__(
        self,
        url: str,
        token: str,
        owner: str,
        workdir: Path,
        *,
        duration: float,
        readers: int,
        rate: float,
    ) -> None:
        self.url = url.rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])
        self.token = token
        self.owner = owner
        self.workdir = workdir
        self.duration = duration
        self.readers = readers
        self.rate = rate
        self.report = Report()
        self.started = 0.0
        self.stop_at = 0.0
        self.versions: dict[str, list[str]] = {p: ["1.0"] for p in PROJECTS}
        self.files: list[str] = []
        self.next_minor = 0
        self.rng = random.Random(14)  # noqa: S311  (load mix, not secrets)

    def now(self) -> float:
        return time.monotonic() - self.started

    def running(self) -> bool:
        return time.monotonic() < self.stop_at

    async def run(self) -> Report:
        self.report.workers = worker_pids(self.port)
        if len(self.report.workers) < 2:
            raise RuntimeError(
                f"expected 2 workers on port {self.port}, found {self.report.workers}"
            )
        limits = httpx.Limits(
            max_connections=64, max_keepalive_connections=32, keepalive_expiry=KEEPALIVE
        )
        async with httpx.AsyncClient(base_url=self.url, timeout=60, limits=limits) as http:
            await self.seed(http)
            self.started = time.monotonic()
            self.stop_at = self.started + self.duration
            tasks = [self.reader(http) for _ in range(self.readers)]
            tasks += [
                self.installer(),
                self.uploader(http),
                self.yanker(),
                self.logins(),
                self.sampler(),
            ]
            await asyncio.gather(*tasks)
        self.report.duration = self.now()
        return self.report

    # -- seeding ----------------------------------------------------------------------------

    async def upload(self, http: httpx.AsyncClient, name: str, version: str) -> bool:
        content = wheel_bytes(name, version)
        filename = wheel_name(name, version)
        r = await http.post(
            "/legacy/",
            data=upload_fields(content, filename),
            files={"content": (filename, content, "application/octet-stream")},
            auth=("__token__", self.token),
        )
        if r.status_code != 200:
            self.report.error(f"upload {filename}: {r.status_code} {r.text[:200]}")
            return False
        self.report.counts["uploads"] += 1
        return True

    async def seed(self, http: httpx.AsyncClient) -> None:
        for name in PROJECTS:
            await self.upload(http, name, "1.0")
        for version in ["1.0", *YANK_VERSIONS]:
            await self.upload(http, YANK_PROJECT, version)
        await self.refresh_files(http)
        if self.report.errors:
            raise RuntimeError(f"seeding failed: {self.report.errors}")

    async def refresh_files(self, http: httpx.AsyncClient) -> None:
        files = []
        for name in PROJECTS:
            r = await http.get(f"/pypi/{name}/json")
            if r.status_code == 200:
                files += [u["url"] for u in r.json()["urls"]]
        self.files = files or self.files

    # -- readers ----------------------------------------------------------------------------

    async def reader(self, http: httpx.AsyncClient) -> None:
        # Paced, not flat out: each reader starts a read every readers/rate seconds (later if
        # the previous one took longer), so the load is bounded and a slow server shows as
        # latency rather than as fewer reads.
        period = self.readers / self.rate
        next_at = time.monotonic() + self.rng.random() * period
        while self.running():
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at + period, time.monotonic())
            name = self.rng.choice([*PROJECTS, YANK_PROJECT])
            kind = self.rng.choice(["html", "json", "root", "api", "file"])
            if kind == "html":
                path, headers = f"/simple/{name}/", {"Accept": "text/html"}
            elif kind == "json":
                path, headers = f"/simple/{name}/", {"Accept": JSON_ACCEPT}
            elif kind == "root":
                path, headers = "/simple/", {"Accept": JSON_ACCEPT}
            elif kind == "api":
                path, headers = f"/pypi/{name}/json", {}
            else:
                path, headers = self.rng.choice(self.files), {}
            start = time.monotonic()
            try:
                r = await http.get(path, headers=headers)
                await r.aread()
            except httpx.HTTPError as exc:
                self.report.error(f"GET {path}: {exc!r}")
                continue
            elapsed = time.monotonic() - start
            if r.status_code != 200:
                self.report.error(f"GET {path}: {r.status_code}")
                continue
            self.report.reads.append((self.now(), elapsed))
            self.report.counts[f"reads_{kind}"] += 1

    # -- installs ---------------------------------------------------------------------------

    async def command(self, what: str, *args: str) -> bool:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=client_env(),
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            self.report.error(f"{what} exited {proc.returncode}: {out.decode()[-500:]}")
            return False
        return True

    async def installer(self) -> None:
        turn = 0
        while self.running():
            venv = self.workdir / f"venv-{turn}"
            name = self.rng.choice(PROJECTS)
            python = str(venv / "bin" / "python")
            index = f"{self.url}/simple/"
            ok = await self.command(
                "uv venv", str(BIN / "uv"), "venv", "-q", "-p", sys.executable, str(venv)
            )
            if ok and turn % 2 == 0:
                ok = await self.command(
                    f"uv pip install {name}",
                    str(BIN / "uv"), "pip", "install", "-q", "--no-cache", "--python", python,
                    "--index-url", index, name,
                )  # fmt: skip
                kind = "installs_uv"
            elif ok:
                ok = await self.command(
                    f"pip install {name}",
                    sys.executable, "-m", "pip", "--python", python, "install", "-q",
                    "--no-cache-dir", "--index-url", index, name,
                )  # fmt: skip
                kind = "installs_pip"
            if ok:
                installed = list(
                    (venv / "lib").glob(
                        f"python*/site-packages/{name.replace('-', '_')}-*.dist-info"
                    )
                )
                if len(installed) != 1:
                    self.report.error(f"{kind}: {name} not in the venv after installing")
                else:
                    self.report.counts[kind] += 1
            shutil.rmtree(venv, ignore_errors=True)
            turn += 1

    # -- uploads and yanks, and their freshness -----------------------------------------------

    async def probe(self, path: str) -> tuple[int | None, bytes]:
        """GET ``path`` (simple JSON) on a new connection; which worker answered, and the body."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            client_port = writer.get_extra_info("sockname")[1]
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Accept: {JSON_ACCEPT}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if match is None:
                raise RuntimeError(f"no content-length from {path}")
            body = await reader.readexactly(int(match.group(1)))
            if status != 200:
                raise RuntimeError(f"probe {path}: {status}")
            # The worker still holds the kept-alive connection: find it before closing.
            owner = connection_owner(self.port, client_port, self.report.workers)
            return owner, body
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def freshness(
        self, what: str, path: str, fresh: Callable[[dict[str, Any]], bool]
    ) -> None:
        """Probe ``path`` after a change until every worker has answered a probe sent at least
        :data:`FRESHNESS_LIMIT` after it. For each worker this brackets the moment it began
        serving the new page: after the send time of its last stale answer, and by the
        arrival of its first fresh one. A stale answer to a probe sent after the limit is a
        violation."""
        start = time.monotonic()
        change = Change(what)
        workers = set(self.report.workers)
        late: set[int] = set()  # workers that answered a probe sent after the limit
        while late != workers:
            sent = time.monotonic() - start
            if sent > 15:
                self.report.error(f"{what}: workers {sorted(workers - late)} not probed in 15 s")
                return
            # Two probes at once: they tend to land on different workers.
            results = await asyncio.gather(
                self.probe(path), self.probe(path), return_exceptions=True
            )
            arrived = time.monotonic() - start
            for result in results:
                if isinstance(result, BaseException):
                    self.report.error(f"{what}: probe failed: {result!r}")
                    return
                owner, body = result
                if owner is None:
                    continue
                if fresh(json.loads(body)):
                    change.fresh_by.setdefault(owner, arrived)
                else:
                    change.stale_until[owner] = sent
                    if owner in change.fresh_by:
                        self.report.error(f"{what}: worker {owner} served the old page again")
                if sent >= FRESHNESS_LIMIT:
                    late.add(owner)
            if set(change.fresh_by) == workers and sent < FRESHNESS_LIMIT:
                # Every worker has the new page: next, the probes that check it stays so.
                await asyncio.sleep(FRESHNESS_LIMIT - sent)
            else:
                await asyncio.sleep(0.005)
        self.report.freshness.append(change)

    async def uploader(self, http: httpx.AsyncClient) -> None:
        turn = 0
        while self.running():
            name = PROJECTS[turn % len(PROJECTS)]
            self.next_minor += 1
            version = f"1.{self.next_minor}"
            filename = wheel_name(name, version)
            if turn % 5 == 4:
                path = self.workdir / filename
                path.write_bytes(wheel_bytes(name, version))
                ok = await self.command(
                    f"twine upload {filename}",
                    str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
                    "--repository-url", f"{self.url}/legacy/", "-u", "__token__", "-p", self.token,
                    str(path),
                )  # fmt: skip
                path.unlink()
                if ok:
                    self.report.counts["uploads_twine"] += 1
            else:
                try:
                    ok = await self.upload(http, name, version)
                except httpx.HTTPError as exc:
                    self.report.error(f"upload {filename}: {exc!r}")
                    ok = False
                if ok:
                    await self.freshness(
                        f"upload {filename}",
                        f"/simple/{name}/",
                        lambda page, f=filename: any(x["filename"] == f for x in page["files"]),
                    )
            if ok:
                self.versions[name].append(version)
                try:
                    await self.refresh_files(http)
                except httpx.HTTPError as exc:
                    self.report.error(f"JSON API after an upload: {exc!r}")
            turn += 1
            await asyncio.sleep(1.5)

    async def login(self, http: httpx.AsyncClient, user: str) -> bool:
        page = await http.get("/account/login/")
        match = CSRF_RE.search(page.text)
        if page.status_code != 200 or match is None:
            self.report.error(f"login page: {page.status_code}")
            return False
        r = await http.post(
            "/account/login/",
            data={"csrf_token": match.group(1), "username": user, "password": PASSWORD},
        )
        if r.status_code != 303:
            self.report.error(f"login {user}: {r.status_code} {r.text[:200]}")
            return False
        account = await http.get("/manage/account/")
        if account.status_code != 200 or user not in account.text:
            self.report.error(f"after logging in {user}: settings page {account.status_code}")
            return False
        self.report.counts["logins"] += 1
        return True

    async def logins(self) -> None:
        turn = 0
        while self.running():
            async with client(self.url) as http:
                try:
                    await self.login(http, LOGIN_USERS[turn % len(LOGIN_USERS)])
                except httpx.HTTPError as exc:
                    self.report.error(f"login: {exc!r}")
            turn += 1
            end = time.monotonic() + LOGIN_INTERVAL
            while self.running() and time.monotonic() < end:
                await asyncio.sleep(0.5)

    async def yanker(self) -> None:
        releases = f"/manage/project/{YANK_PROJECT}/releases/"
        async with client(self.url) as http:
            if not await self.login(http, self.owner):
                return
            yanked: set[str] = set()
            while self.running():
                try:
                    await self.yank_once(http, releases, yanked)
                except httpx.HTTPError as exc:
                    self.report.error(f"yank or unyank: {exc!r}")
                    await asyncio.sleep(1)

    async def yank_once(self, http: httpx.AsyncClient, releases: str, yanked: set[str]) -> None:
        """Yank a release (or unyank it, if it is yanked) through the form, then time how long
        until every worker shows the change."""
        version = self.rng.choice(YANK_VERSIONS)
        action = "unyank" if version in yanked else "yank"
        page = await http.get(releases)
        match = CSRF_RE.search(page.text)
        if page.status_code != 200 or match is None:
            self.report.error(f"releases page: {page.status_code}")
            await asyncio.sleep(1)
            return
        r = await http.post(
            f"{releases}{version}/{action}/",
            data={"csrf_token": match.group(1), "reason": "soak"},
        )
        if r.status_code != 303:
            self.report.error(f"{action} {version}: {r.status_code} {r.text[:200]}")
            await asyncio.sleep(1)
            return
        self.report.counts[f"{action}s"] += 1
        (yanked.add if action == "yank" else yanked.discard)(version)
        filename = wheel_name(YANK_PROJECT, version)
        want = action == "yank"
        await self.freshness(
            f"{action} {version}",
            f"/simple/{YANK_PROJECT}/",
            lambda page, f=filename, w=want: any(
                x["filename"] == f and bool(x.get("yanked")) == w for x in page["files"]
            ),
        )
        await asyncio.sleep(2.0)

    async def sampler(self) -> None:
        while self.running():
            self.report.rss.append((self.now(), {p: rss_kib(p) for p in self.report.workers}))
            gone = [p for p in self.report.workers if not Path(f"/proc/{p}").exists()]
            if gone:
                self.report.error(f"workers {gone} are gone")
                return
            await asyncio.sleep(5)


def soak(
    url: str,
    token: str,
    owner: str,
    workdir: Path,
    *,
    duration: float,
    readers: int = 8,
    rate: float = 50.0,
) -> Report:
    """Run the mixed load against the server at ``url`` for ``duration`` seconds. ``owner``
    (password :data:`PASSWORD`) holds ``token``; the :data:`LOGIN_USERS` exist with the same
    password. ``readers`` tasks share ``rate`` reads a second."""
    soaker = Soak(url, token, owner, workdir, duration=duration, readers=readers, rate=rate)
    return asyncio.run(soaker.run())


def client(url: str) -> httpx.AsyncClient:
    """A client that drops idle connections before the server does (see :data:`KEEPALIVE`)."""
    return httpx.AsyncClient(
        base_url=url, timeout=60, limits=httpx.Limits(keepalive_expiry=KEEPALIVE)
    )


def prepare(server_cli: Callable[..., str]) -> tuple[str, str]:
    """Create the soak's users through ``stockade`` (``server_cli(*args, stdin=…)``); returns
    the owner's name and API token."""
    for user in ["soak", *LOGIN_USERS]:
        server_cli(
            "user", "create", user, "--email", f"{user}@example.test", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
    return "soak", server_cli("token", "create", "soak").strip()


def log_errors(log: Path) -> list[str]:
    """Tracebacks and errors in the server's log."""
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if re.search(r"\b(ERROR|CRITICAL|Traceback)\b", line)]


# -- the command ----------------------------------------------------------------------------------


@contextlib.contextmanager
def backend_env(backend: str, base: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    # No scheduled jobs: the critical-projects job could make a soak project critical mid-run
    # (then its uploads need 2FA); jobs never touch the read path.
    env["STOCKADE_SCHEDULER"] = "0"
    if backend == "sqlite":
        yield env
        return
    from support.backend import backend_overrides
    from support.servers import start_postgres, start_seaweed

    postgres = start_postgres(base / "pg")
    seaweed = start_seaweed(base / "weed")
    try:
        overrides, _ = backend_overrides(postgres, seaweed)
        env.update({f"STOCKADE_{k.upper()}": v for k, v in overrides.items()})
        yield env
    finally:
        seaweed.stop()
        postgres.stop()


def markdown(backend: str, summary: dict[str, Any], info: dict[str, Any]) -> str:
    fresh = summary["freshness"]
    lines = [
        f"### {backend}",
        "",
        f"- {info['date']}, commit {info['commit']}, {info['machine']}; load average at the "
        f"start {info['loadavg_start']}, at the end {info['loadavg_end']}",
        f"- `{info['command']}`: {summary['duration_s']} s, "
        + ", ".join(f"{k} {v}" for k, v in sorted(summary["counts"].items())),
        f"- **errors: {summary['counts'].get('errors', 0)}** (including {info['log_errors']} "
        "error lines in the server's log)",
        f"- freshness over {fresh['changes']} uploads and (un)yanks answered by one worker: "
        f"**{fresh['violations']} stale answers to a request sent {FRESHNESS_LIMIT:.0f} s or more "
        f"after the change**; the latest stale answer was to a request sent "
        f"{fresh['stale_until_max_s']:.3f} s after; every worker had answered with the new page "
        f"by {fresh['fresh_by_p50_s']:.3f} s (median) / {fresh['fresh_by_max_s']:.3f} s (worst), "
        "response times under load included",
        "",
        "| minute | reads | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for row in summary["latency_by_minute"]:
        lines.append(
            f"| {row['minute']} | {row['reads']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} |"
        )
    lines += [
        "",
        f"RSS per worker after a {info['warmup_s']:.0f} s warm-up (sampled every 5 s):",
        "",
        "| worker | samples | min MiB | median MiB | max MiB | largest deviation "
        "| samples off the median by > 10% | drift (last fifth vs first) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for pid, row in summary["rss"].items():
        lines.append(
            f"| {pid} | {row['samples']} | {row['min_mib']:.1f} | {row['median_mib']:.1f} | "
            f"{row['max_mib']:.1f} | ±{row['spread_pct']:.1f}% | "
            f"{row.get('over_10pct', '-')} | {row.get('drift_pct', float('nan')):+.1f}% |"
        )
    return "\n".join(lines) + "\n"


def write_results(md: Path, backend: str, text: str) -> None:
    """Put ``text`` as the section of ``backend`` inside the SOAK block of ``md``."""
    old = md.read_text() if md.exists() else ""
    match = re.search(re.escape(SOAK_BEGIN) + r"(.*?)" + re.escape(SOAK_END), old, re.S)
    sections = (
        dict(re.findall(r"(?ms)^### (\w+)\n(.*?)(?=^### |\Z)", match.group(1))) if match else {}
    )
    sections[backend] = text.split("\n", 1)[1]
    body = "\n## Soak (`bench/soak.py`)\n\n" + (
        "The machine is shared with other engineers' work (tests, builds): latency figures "
        "move with its load; errors and freshness are the targets.\n\n"
    )
    body += "".join(f"### {name}\n{sections[name].rstrip()}\n\n" for name in sorted(sections))
    block = SOAK_BEGIN + body + SOAK_END
    new = old.replace(match.group(0), block) if match else old.rstrip() + "\n\n" + block + "\n"
    md.write_text(new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--readers", type=int, default=8, help="concurrent readers")
    parser.add_argument("--rate", type=float, default=50, help="reads a second, in all")
    parser.add_argument("--warmup", type=float, default=60, help="seconds before RSS is judged")
    parser.add_argument(
        "--out", type=Path, help="the raw summary as JSON (and the server's log beside it)"
    )
    parser.add_argument("--results-md", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--no-results-md", action="store_true")
    args = parser.parse_args()
    command = "bench/soak.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="stockade-soak-") as tmp:
        base = Path(tmp)
        info: dict[str, Any] = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
            ).stdout.strip(),
            "machine": f"{os.cpu_count()} cores, Linux {platform.release()}, "
            f"Python {platform.python_version()}",
            "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
            "command": command,
            "warmup_s": args.warmup,
        }
        with backend_env(args.backend, base) as env:
            data = base / "data"
            log = base / "server.log"
            with stockade_serve(data, env, log, "--workers", "2") as url:

                def cli(*a: str, stdin: str | None = None) -> str:
                    return subprocess.run(
                        [str(BIN / "stockade"), *a, "--data", str(data)],
                        env=env, input=stdin, capture_output=True, text=True, check=True,
                    ).stdout  # fmt: skip

                owner, token = prepare(cli)
                work = base / "work"
                work.mkdir()
                report = soak(
                    url,
                    token,
                    owner,
                    work,
                    duration=args.duration,
                    readers=args.readers,
                    rate=args.rate,
                )
            bad = log_errors(log)
            if args.out:
                shutil.copyfile(log, args.out.with_suffix(".server.log"))
            for line in bad[:20]:
                report.error(f"server log: {line[:300]}")
        info["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
        info["log_errors"] = len(bad)
        summary = report.summary(args.warmup)
        print(json.dumps(summary, indent=1))
        if args.out:
            series = [{"at": round(at, 1), "kib": rss} for at, rss in report.rss]
            args.out.write_text(
                json.dumps({"info": info, "summary": summary, "rss": series}, indent=1)
            )
        if not args.no_results_md:
            write_results(args.results_md, args.backend, markdown(args.backend, summary, info))
    ok = not summary["counts"].get("errors") and summary["freshness"]["violations"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
