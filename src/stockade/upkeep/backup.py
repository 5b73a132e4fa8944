"""``stockade admin backup DEST`` and ``stockade admin restore SRC``: a consistent copy of an
index, and an index made again from one.

A backup folder holds:

- ``database.sqlite3`` (SQLite's online backup API: a consistent copy while the server runs)
  or ``database.pgdump`` (``pg_dump`` in its custom format, taken in an exported snapshot);
  or, with ``--portable``, ``database.jsonl``: every table's rows as JSON lines, read in one
  snapshot (:mod:`stockade.upkeep.portable`), which restores into either backend;
- ``blobs/<key>``: every blob a row of *that copy* references (read in the same snapshot), so
  the restored index holds no orphan and misses no blob; each is verified against its sha256
  as it is copied;
- ``secret_key`` (API tokens and sessions are signed with it), ``log.key`` (the transparency
  log's signing key, installed by restore unless ``log_key_file`` names another) and, for the
  operator's reference, ``stockade.toml``, which restore does not install (it names the old
  database);
- ``manifest.json``: the format, the database kind and the blobs with their sizes.

Restore goes into an empty database of the same kind (SQLite to SQLite, PostgreSQL to
PostgreSQL), or of either kind for a portable backup made by this version's schema, copies
the blobs into the target's store (checking each hash again), installs the
secret key and migrates the schema to this version's head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData, inspect, literal, select, text
from sqlalchemy import table as sql_table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from stockade.config import Settings
from stockade.db import Database
from stockade.db.migrate import upgrade
from stockade.index.paths import blob_key
from stockade.storage import BlobStorage
from stockade.tlog.keys import key_path
from stockade.upkeep.portable import (
    SEEDED,
    export_rows,
    import_rows,
    schema_revision,
    unmapped_tables,
)
from stockade.upkeep.progress import Progress
from stockade.upkeep.references import all_referenced

__all__ = [
    "BackupError",
    "BackupSummary",
    "backup",
    "copy_out",
    "is_backup",
    "restore",
    "sha256_of",
]

LOG_KEY = "log.key"

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
PORTABLE_FILE = "database.jsonl"
PORTABLE = "portable"
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why."""


@dataclass(frozen=True)
class BackupSummary:
    """What a backup or a restore copied."""

    database: str
    blobs: int
    bytes: int


def _kind(url: URL) -> str:
    name = url.get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"unsupported database {name!r}")
    return name


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and an environment carrying it (never on argv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run_tool(args: list[str], env: dict[str, str]) -> None:
    tool = shutil.which(args[0])
    if tool is None:
        raise BackupError(f"{args[0]} is not installed (it comes with the PostgreSQL client)")
    proc = subprocess.run([tool, *args[1:]], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{args[0]} failed: {proc.stderr.strip()[-2000:]}")


def copy_out(storage: BlobStorage, digest: str, dest: Path) -> int:
    """Copy a blob to its key's path under ``dest``, checking its sha256; returns its size."""
    key = blob_key(digest)
    path = dest.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    size = 0
    with open(path, "wb") as out:
        for chunk in storage.iter_range(key, chunk_size=_CHUNK):
            hasher.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if hasher.hexdigest() != digest:
        raise BackupError(f"the blob {key} is corrupt (run `stockade admin fsck`)")
    return size


def backup(
    settings: Settings,
    db: Database,
    storage: BlobStorage,
    dest: Path,
    *,
    progress: Progress,
    portable: bool = False,
) -> BackupSummary:
    """Copy the database and every blob it references into the new folder ``dest``; with
    ``portable``, the database as rows that restore into either backend."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty folder")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    kind = _kind(db.url)
    schema = None
    if portable:
        digests, schema = _export(db, dest / PORTABLE_FILE)
        kind = PORTABLE
    elif kind == "sqlite":
        copy = dest / SQLITE_FILE
        source = sqlite3.connect(db.url.database or "")
        target = sqlite3.connect(copy)
        try:
            source.backup(target)  # a consistent copy, even while writers run
        finally:
            target.close()
            source.close()
        snapshot = Database(f"sqlite:///{copy}")
        try:
            with snapshot.read() as session:
                digests = all_referenced(session)
        finally:
            snapshot.dispose()
    else:
        digests = _pg_dump(db, dest / PG_FILE)
    progress.phase("blobs", len(digests))
    blobs_dir = dest / "blobs"
    sizes = {}
    for digest in digests:
        sizes[digest] = copy_out(storage, digest, blobs_dir)
        progress.advance()
    secret = settings.data_dir / "secret_key"
    if secret.exists():
        shutil.copy2(secret, dest / "secret_key")
    # The transparency log's checkpoints must stay verifiable by the key clients pinned.
    if key_path(settings).exists():
        shutil.copy2(key_path(settings), dest / LOG_KEY)
    toml = settings.data_dir / "stockade.toml"
    if toml.exists():
        shutil.copy2(toml, dest / "stockade.toml")
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": kind,
        "blobs": sizes,
    }
    if schema is not None:
        manifest["schema"] = schema
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    return BackupSummary(kind, len(sizes), sum(sizes.values()))


def _pg_dump(db: Database, out: Path) -> list[str]:
    """``pg_dump`` in a snapshot this transaction exports, and the digests the same snapshot
    references: the dump and the blob list agree exactly."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot_id = conn.scalar(text("SELECT pg_export_snapshot()"))
            with Session(bind=conn) as session:
                digests = all_referenced(session)
            url, env = _libpq(db.url)
            _run_tool(
                ["pg_dump", "--format=custom", f"--snapshot={snapshot_id}", "-f", str(out), url],
                env,
            )
    return digests


def _export(db: Database, out: Path) -> tuple[list[str], str]:
    """The rows of every table and the digests they reference, read in one snapshot; and
    the schema version."""
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            unmapped = unmapped_tables(conn)
            if unmapped:
                raise BackupError(f"tables no model describes would be left out: {unmapped}")
            schema = schema_revision(conn)
            with Session(bind=conn) as session, open(out, "w", encoding="utf-8") as fh:
                digests = all_referenced(session)
                export_rows(session, fh)
                fh.flush()
                os.fsync(fh.fileno())
    return digests, schema


def is_backup(path: Path) -> bool:
    """Whether ``path`` is a folder written by :func:`backup`."""
    return (path / MANIFEST).is_file()


def restore(
    settings: Settings, src: Path, storage: BlobStorage, *, progress: Progress
) -> BackupSummary:
    """Make the index of ``settings`` (an empty database) from the backup folder ``src``."""
    try:
        manifest = json.loads((src / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{src} is not a stockade backup (no readable {MANIFEST})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{src}: unknown backup format {manifest.get('format')!r}")
    kind = manifest["database"]
    target_url = make_url(settings.database_url)
    if kind != PORTABLE and _kind(target_url) != kind:
        raise BackupError(
            f"the backup holds a {kind} database and the target is "
            f"{target_url.get_backend_name()}: restore into the same kind of database, or "
            "make the backup with --portable to move to the other kind"
        )
    db = Database(settings.database_url)
    try:
        if kind == PORTABLE:
            upgrade(db)
        _check_empty(db)
        if kind == PORTABLE:
            _import(db, src / PORTABLE_FILE, manifest.get("schema"))
        elif kind == "sqlite":
            backup_db = sqlite3.connect(src / SQLITE_FILE)
            db.dispose()
            target = sqlite3.connect(target_url.database or "")
            try:
                backup_db.backup(target)
            finally:
                target.close()
                backup_db.close()
        else:
            # A fresh database may already be migrated (every command migrates): its empty
            # tables make way for the backup's.
            schema = MetaData()
            schema.reflect(db.engine)
            schema.drop_all(db.engine)
            url, env = _libpq(target_url)
            _run_tool(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-privileges",
                    "-d",
                    url,
                    str(src / PG_FILE),
                ],
                env,
            )
        upgrade(db)
    finally:
        db.dispose()
    blobs: dict[str, int] = manifest["blobs"]
    progress.phase("blobs", len(blobs))
    for digest in sorted(blobs):
        key = blob_key(digest)
        path = src.joinpath("blobs", *key.split("/"))
        if sha256_of(path) != digest:
            raise BackupError(f"the backup's blob {key} is corrupt")
        storage.put_file(key, path)
        progress.advance()
    secret = src / "secret_key"
    if secret.exists():
        target_secret = settings.data_dir / "secret_key"
        target_secret.unlink(missing_ok=True)
        shutil.copy2(secret, target_secret)
        target_secret.chmod(0o600)
    log_key = src / LOG_KEY
    if log_key.exists() and not settings.log_key_file:
        target_key = key_path(settings)
        target_key.unlink(missing_ok=True)
        shutil.copy2(log_key, target_key)
        target_key.chmod(0o600)
    return BackupSummary(kind, len(blobs), sum(blobs.values()))


def _import(db: Database, path: Path, schema: object) -> None:
    """The rows of a portable backup, in one transaction, into a database at their schema."""
    with db.engine.connect() as conn:
        if schema_revision(conn) != schema:
            raise BackupError(
                f"the backup's schema is {schema!r} and this version's is "
                f"{schema_revision(conn)!r}: restore with the stockade version that made it"
            )
    try:
        with db.engine.begin() as conn:
            import_rows(conn, path)
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}: {exc}") from exc


def _check_empty(db: Database) -> None:
    """Refuse a target database holding anything but (perhaps) its schema version."""
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table == "alembic_version" or table in SEEDED:
                continue
            if conn.execute(select(literal(1)).select_from(sql_table(table)).limit(1)).first():
                raise BackupError(
                    f"the target database is not empty (table {table} has rows): "
                    "restore into a fresh one"
                )


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes ("" when there is no such file)."""
    hasher = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                hasher.update(chunk)
    except FileNotFoundError:
        return ""
    return hasher.hexdigest()
