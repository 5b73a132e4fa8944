"""A logical copy of the database that restores into either backend: every table's rows as
JSON lines, parents before children.

``stockade admin backup --portable`` writes it instead of a SQLite file or a ``pg_dump``, so
an index moves from SQLite to PostgreSQL (or back). Each line is ``{"table": …, "row": {…}}``;
values are JSON, except timestamps and dates (ISO 8601 strings) and bytes (base64), decoded
by the column's type on the way in. The rows are read in one transaction (a snapshot), in the
order of the models' foreign keys, and written the same way into an empty database migrated
to the same schema version; PostgreSQL's id sequences are then moved past the copied ids.
A JSON column's SQL NULL comes back as JSON ``null``: both read as ``None``, and no query
tells them apart.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Table, TypeDecorator, func, inspect, select, text
from sqlalchemy.orm import Session

from stockade.db.base import Base

__all__ = [
    "SEEDED",
    "decoded_rows",
    "encode_row",
    "export_rows",
    "import_rows",
    "schema_revision",
    "unmapped_tables",
]

_BATCH = 500
# Alembic's own table: the target gets its version from migrating, not from the copy.
_SKIP = {"alembic_version"}


def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in _SKIP]


def unmapped_tables(conn: Connection) -> list[str]:
    """Tables in the database that no model describes (a copy would leave them out)."""
    mapped = {t.name for t in _tables()} | _SKIP
    return sorted(set(inspect(conn).get_table_names()) - mapped)


def schema_revision(conn: Connection) -> str:
    """The Alembic revision the database is at."""
    return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _decoder(python_type: type | None) -> Any:
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat
    if python_type is dt.date:
        return dt.date.fromisoformat
    if python_type is bytes:
        return base64.b64decode
    return None


def _python_type(column: Any) -> type | None:
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    try:
        return kind.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return None


def encode_row(table: str, row: Mapping[Any, Any]) -> str:
    """One line of the copy: a row of ``table`` as JSON, with its newline."""
    line = {"table": table, "row": {k: _encode(v) for k, v in row.items()}}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


def export_rows(session: Session, out: IO[str]) -> dict[str, int]:
    """Write every mapped table's rows to ``out``; returns the row count of each table."""
    counts = {}
    for table in _tables():
        counts[table.name] = 0
        order = list(table.primary_key.columns) or list(table.columns)
        for row in session.execute(select(table).order_by(*order)).mappings():
            out.write(encode_row(table.name, row))
            counts[table.name] += 1
    return counts


def _read(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                item = json.loads(line)
                yield item["table"], item["row"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"line {number} is not a row of a portable backup") from exc


def decoded_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The rows of ``path``, each with its table's name, decoded by the columns' types; a
    table or column this version does not know is a ValueError."""
    tables = {t.name: t for t in _tables()}
    decoders = {
        name: {c.name: d for c in t.columns if (d := _decoder(_python_type(c))) is not None}
        for name, t in tables.items()
    }
    for name, row in _read(path):
        if name not in tables:
            raise ValueError(f"the backup has rows of a table this version does not know: {name}")
        if not isinstance(row, dict):
            raise ValueError(f"a row of {name} is not an object")
        unknown = set(row) - set(tables[name].columns.keys())
        if unknown:
            raise ValueError(f"the backup's {name} rows have unknown columns: {sorted(unknown)}")
        try:
            for key, decode in decoders[name].items():
                if row.get(key) is not None:
                    row[key] = decode(row[key])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a row of {name} has a value of the wrong type: {exc}") from exc
        yield name, row


# Tables whose rows the migrations themselves create (the transparency log's one state row):
# a migrated database holding only these is still empty, and an import replaces them.
SEEDED = ("tlog_state",)


def import_rows(conn: Connection, path: Path, *, skip: Collection[str] = ()) -> dict[str, int]:
    """Insert the rows of ``path`` (but those of the tables in ``skip``) into the (empty,
    migrated) database of ``conn``, inside the caller's transaction; returns the row count of
    each table. The rows the migrations seeded (:data:`SEEDED`) are replaced by the file's."""
    tables = {t.name: t for t in _tables()}
    counts: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    current: str | None = None

    def flush() -> None:
        if batch and current is not None:
            conn.execute(tables[current].insert(), batch)
            batch.clear()

    for name, row in decoded_rows(path):
        if name in skip:
            continue
        if name != current:
            flush()
            current = name
            if name in SEEDED:
                conn.execute(tables[name].delete())
        batch.append(row)
        counts[name] = counts.get(name, 0) + 1
        if len(batch) >= _BATCH:
            flush()
    flush()
    if conn.dialect.name == "postgresql":
        _advance_sequences(conn)
    return counts


def _advance_sequences(conn: Connection) -> None:
    """Move each id sequence past the largest copied id (rows were inserted with their ids)."""
    for table in _tables():
        columns = list(table.primary_key.columns)
        if len(columns) != 1 or _python_type(columns[0]) is not int:
            continue
        column = columns[0]
        sequence = conn.scalar(select(func.pg_get_serial_sequence(table.name, column.name)))
        largest = conn.scalar(select(func.max(column)))
        if sequence is not None and largest is not None:
            conn.execute(select(func.setval(sequence, largest, True)))
