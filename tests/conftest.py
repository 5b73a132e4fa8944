"""Shared fixtures: a fresh index per test on the backend chosen for this run.

``STOCKADE_TEST_BACKEND=sqlite`` (default): SQLite + local files in a temporary folder.
``STOCKADE_TEST_BACKEND=postgres``: a real PostgreSQL cluster and a real S3 store
(SeaweedFS), both started once per session on loopback; every test gets its own database and
bucket.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from stockade import catalogue  # noqa: F401  (every model mapped, as in the app and the CLI)
from stockade.config import Settings, load_settings
from support.backend import BACKEND, CORPUS, backend_overrides
from support.index import Index
from support.servers import PostgresServer, SeaweedServer, start_postgres, start_seaweed


def pytest_report_header() -> str:
    return f"stockade backend: {BACKEND}"


def pytest_configure(config: pytest.Config) -> None:
    # The shared corpus is part of the suite: without it, tests fail loudly rather than skip.
    if not (CORPUS / "MANIFEST.tsv").is_file():
        raise pytest.UsageError(f"the shared corpus is missing: no {CORPUS / 'MANIFEST.tsv'}")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer | None]:
    if BACKEND != "postgres":
        yield None
        return
    server = start_postgres(tmp_path_factory.mktemp("pg"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer | None]:
    if BACKEND != "postgres":
        yield None
        return
    server = start_seaweed(tmp_path_factory.mktemp("weed"))
    yield server
    server.stop()


@pytest.fixture
def settings(
    tmp_path: Path, postgres: PostgresServer | None, seaweed: SeaweedServer | None
) -> Iterator[Settings]:
    """Settings for a brand-new, empty index on this run's backend."""
    overrides, name = backend_overrides(postgres, seaweed)
    # No background jobs in tests: they run when a test runs them.
    defaults = {"cache_poll_interval": 0.2, "scheduler": False}
    yield load_settings(tmp_path / "data", environ={}, overrides={**defaults, **overrides})
    if postgres is not None:
        postgres.drop_database(name)


@pytest.fixture
def index(settings: Settings) -> Iterator[Index]:
    """A migrated index with its app, an in-process HTTP client and helpers."""
    with Index.open(settings) as idx:
        yield idx
