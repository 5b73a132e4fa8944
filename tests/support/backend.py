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


_TEMPLATE = "stockade_template"
_BUCKET = "stockade-tests"
_buckets: set[str] = set()
_template_ready: set[str] = set()


def _migrated_template(postgres: PostgresServer) -> str:
    """A database migrated once per run; every test's database is copied from it (fast)."""
    if postgres.url(_TEMPLATE) not in _template_ready:
        from stockade.db import Database
        from stockade.db.migrate import upgrade

        postgres.create_database(_TEMPLATE)
        db = Database(postgres.url(_TEMPLATE))
        upgrade(db)
        db.dispose()
        _template_ready.add(postgres.url(_TEMPLATE))
    return _TEMPLATE


def backend_overrides(
    postgres: PostgresServer | None, seaweed: SeaweedServer | None
) -> tuple[dict[str, str], str]:
    """Database and storage URLs for a new index on this run's backend.

    On PostgreSQL the database is a copy of a template migrated once per run; tests still
    run the migrations (a no-op at head), so the migration path stays covered.
    """
    name = f"t{os.getpid()}x{next(_counter)}"
    if postgres is None or seaweed is None:
        return {}, name
    postgres.create_database(name, template=_migrated_template(postgres))
    # One bucket per run, one prefix per index: SeaweedFS gives every bucket its own volumes
    # and runs out of them after a few hundred buckets.
    if seaweed.endpoint not in _buckets:
        seaweed.make_bucket(_BUCKET)
        _buckets.add(seaweed.endpoint)
    storage = seaweed.storage_url(_BUCKET, prefix=name)
    return {"database_url": postgres.url(name), "storage_url": storage}, name
