"""A whole stockade index for one test: migrated database, app, client, users, tokens."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select
from starlette.testclient import TestClient

from stockade.accounts.models import User
from stockade.accounts.services import create_user
from stockade.config import Settings
from stockade.db import Database
from stockade.db.migrate import upgrade
from stockade.events.services import CLI
from stockade.tokens.services import create_token
from stockade.web.app import StockadeApp, create_app

BASE_URL = "http://testserver"


@dataclass
class Index:
    settings: Settings
    app: StockadeApp
    client: TestClient
    _users: dict[str, User] = field(default_factory=dict)

    @classmethod
    @contextlib.contextmanager
    def open(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> Iterator[Index]:
        upgrade(Database(settings.database_url))
        # The TestClient's host ("testserver") is not a loopback name, and links mailed to
        # people are only built from a configured base_url or a loopback host.
        app = create_app(
            settings if settings.base_url else replace(settings, base_url=BASE_URL), clock=clock
        )
        with TestClient(app, base_url="http://testserver") as client:
            yield cls(settings, app, client)
        app.context.db.dispose()

    @property
    def db(self) -> Database:
        return self.app.context.db

    def user(self, name: str = "alice", *, admin: bool = False) -> User:
        if name not in self._users:
            with self.db.write() as session:
                self._users[name] = create_user(
                    session,
                    name,
                    email=f"{name}@example.test",
                    password="correct horse 1",
                    is_admin=admin,
                    email_verified=True,
                    origin=CLI,
                )
        return self._users[name]

    def token(
        self, name: str = "alice", *, project: str | None = None, expires_days: int | None = None
    ) -> str:
        user = self.user(name)
        with self.db.write() as session:
            return create_token(
                session,
                user,
                secret_key=self.settings.secret_key,
                name="test",
                projects=[project] if project else None,
                expires_days=expires_days,
                origin=CLI,
            )

    def upload(
        self,
        content: bytes | Path,
        filename: str | None = None,
        *,
        token: str | None = None,
        fields: dict[str, Any] | None = None,
        omit: tuple[str, ...] = (),
    ) -> httpx.Response:
        """POST /legacy/ as twine does; ``fields`` overrides or adds form fields."""
        if isinstance(content, Path):
            filename = filename or content.name
            content = content.read_bytes()
        assert filename is not None
        token = token if token is not None else self.token()
        return self.client.post(
            "/legacy/",
            data=upload_fields(content, filename, fields, omit),
            files={"content": (filename, content, "application/octet-stream")},
            auth=("__token__", token),
        )

    @contextlib.contextmanager
    def live(self) -> Iterator[str]:
        """Serve this index over real HTTP on 127.0.0.1; yields the base URL."""
        with serve_app(create_app(self.settings)) as url:
            yield url


def upload_fields(
    content: bytes, filename: str, extra: dict[str, Any] | None = None, omit: tuple[str, ...] = ()
) -> dict[str, Any]:
    kind = "bdist_wheel" if filename.endswith(".whl") else "sdist"
    data: dict[str, Any] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "filetype": kind,
        "pyversion": "py3" if kind == "bdist_wheel" else "source",
        "sha256_digest": hashlib.sha256(content).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(content, digest_size=32).hexdigest(),
    }
    data.update(extra or {})
    for key in omit:
        data.pop(key, None)
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a thread on a free loopback port, configured as
    `stockade serve` runs it (the app applies the proxy headers itself)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_from(client: TestClient, path: str) -> str:
    """The CSRF token of the form on ``path`` (fetched as the client, with its cookies)."""
    page = client.get(path)
    match = CSRF_RE.search(page.text)
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def login_client(index: Index, username: str) -> TestClient:
    """A second client logged in as ``username`` (the session is made by the service, not the
    login form, so other domains' tests do not depend on the login page)."""
    from stockade.accounts.models import User
    from stockade.accounts.sessions import start_session
    from stockade.web.auth import POLICY, SESSION_COOKIE

    index.user(username)
    with index.db.write() as session:
        user = session.scalar(select(User).where(User.username_lower == username.lower()))
        assert user is not None
        cookie, _ = start_session(session, user, origin=CLI, policy=POLICY)
    client = TestClient(index.app, base_url="http://testserver")
    client.cookies.set(SESSION_COOKIE, cookie)
    return client


def cli_env(index: Index, **extra: str) -> dict[str, str]:
    """The environment of a ``stockade`` subprocess on the index's backend (``extra`` added)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update(
        STOCKADE_DATABASE_URL=index.settings.database_url,
        STOCKADE_STORAGE_URL=index.settings.storage_url,
        COLUMNS="200",
    )
    env.update(extra)
    return env


def project_roles(index: Index, project: str = "demo") -> dict[str, str]:
    """Who has which role on ``project``: username to role name."""
    from stockade.index.models import Project, Role

    with index.db.read() as s:
        rows = s.execute(
            select(User.username, Role.role_name)
            .join(Role, Role.user_id == User.id)
            .join(Project, Project.id == Role.project_id)
            .where(Project.normalized_name == project)
        ).all()
    return dict(rows)


def run_cli(index: Index, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``stockade ARGS --data <the index's data folder>`` on the index's backend,
    with ``env`` added to its environment."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "stockade"),
            *args,
            "--data",
            str(index.settings.data_dir),
        ],
        capture_output=True,
        text=True,
        env=cli_env(index, **env),
        timeout=120,
    )


def run_cli_inline(index: Index, *args: str) -> subprocess.CompletedProcess[str]:
    """``stockade ARGS --data <the index's folder>`` in this process, on the index's backend:
    the same Typer application as :func:`run_cli`, much faster than a new interpreter."""
    from typer.testing import CliRunner

    from stockade.cli.main import app as stockade_app

    env = {
        "STOCKADE_DATABASE_URL": index.settings.database_url,
        "STOCKADE_STORAGE_URL": index.settings.storage_url,
        "COLUMNS": "200",
    }
    argv = [*args, "--data", str(index.settings.data_dir)]
    result = CliRunner().invoke(stockade_app, argv, env=env)
    return subprocess.CompletedProcess(argv, result.exit_code, result.stdout, result.stderr)
