"""Fixtures for the seam contract tests: real backing servers, started once per session."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# As tests/conftest.py does, import test helpers as `support.*`; also find `stockade` in src/
# when the package is not installed in the venv yet.
_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))
if importlib.util.find_spec("stockade") is None:
    sys.path.insert(0, str(_TESTS.parent / "src"))

from support.servers import SeaweedServer, start_seaweed  # noqa: E402


@pytest.fixture(scope="session")
def seaweed_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeaweedServer]:
    """One real `weed mini` S3 store for the whole session, always (whatever the backend).

    Reuses the session's ``seaweed`` fixture from tests/conftest.py when that one is running.
    """
    try:
        shared = request.getfixturevalue("seaweed")
    except pytest.FixtureLookupError:
        shared = None
    if isinstance(shared, SeaweedServer):
        yield shared
        return
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server
    finally:
        server.stop()
