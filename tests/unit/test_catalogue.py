"""Every entry point maps every model before its first query.

Models refer to tables of higher layers by name (a file's ``deletion_id`` to ``deletions``, a
token's ``publisher_id`` to ``oidc_publishers``), which no import shows: SQLAlchemy finds them
only if their module was imported. ``stockade.catalogue`` imports them all; the app and the CLI
must load it. Each check runs in a fresh interpreter, since this test process has the catalogue
loaded already (tests/conftest.py).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from stockade import catalogue
from stockade.db.base import Base

_TABLES = """
import sys
import {module}
from stockade.db.base import Base
print(" ".join(sorted(Base.metadata.tables)))
"""


@pytest.mark.parametrize("module", ["stockade.web.app", "stockade.cli.main"])
def test_an_entry_point_maps_every_table(module: str) -> None:
    found = subprocess.run(
        [sys.executable, "-c", _TABLES.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert found == sorted(Base.metadata.tables)


def test_the_catalogue_lists_every_models_module() -> None:
    listed = {m.__name__ for m in catalogue.MODELS}
    mapped = {mapper.class_.__module__ for mapper in Base.registry.mappers}
    assert mapped <= listed
