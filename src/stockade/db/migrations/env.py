"""Alembic environment: runs on the connection handed over by stockade.db.migrate.

The migrations spell out every table, so upgrading needs no model. ``Base.metadata`` knows the
tables of the models imported so far (all of them once ``stockade.catalogue`` is imported, as
the app, the CLI and the schema test do); only autogenerate compares against it.
"""

from __future__ import annotations

from alembic import context

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
