"""Which backend this test run uses, and fresh database + storage URLs on it."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from support.servers import PostgresServer, SeaweedServer

BACKEND = os.environ.get("STOCKADE_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise RuntimeError(f"STOCKADE_TEST_BACKEND must be sqlite or postgres, not {BACKEND!r}")

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"

_counter = itertools.count()


def backend_overrides(
    postgres: PostgresServer | None, seaweed: SeaweedServer | None
) -> tuple[dict[str, str], str]:
    """Database and storage URLs for a new, empty index on this run's backend."""
    name = f"t{os.getpid()}x{next(_counter)}"
    if postgres is None or seaweed is None:
        return {}, name
    postgres.create_database(name)
    seaweed.make_bucket(name)
    return {"database_url": postgres.url(name), "storage_url": seaweed.storage_url(name)}, name
