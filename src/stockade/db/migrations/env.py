"""Alembic environment: runs on the connection handed over by stockade.db.migrate."""

from __future__ import annotations

from alembic import context

from stockade.db import models as _models  # noqa: F401  (registers every table)
from stockade.db.base import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
