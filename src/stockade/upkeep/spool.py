"""The spool folder (``<data>/tmp``): uploads stream their body there while it is hashed and
checked, and remove it when they finish; the mirror's file fetches do the same in
``<data>/tmp/mirror``. A killed worker leaves its spool behind; these
remove what no live request can still be writing.

``stockade serve`` empties the folder before it starts its workers (no request is running
then); the ``spool-clean`` job removes spools untouched for ``spool_max_age`` seconds while it
runs. The local blob store's own temporary files (``<files>/.tmp``) are cleaned alike.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path

from stockade.config import Settings
from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.storage import LocalStorage, open_storage

__all__ = ["SPOOL_CLEAN_JOB", "Spool", "clean_spools", "stale_spools"]


@dataclass(frozen=True)
class Spool:
    """A file in the spool folder and how long ago it was last written."""

    path: Path
    size: int
    age: float


def stale_spools(settings: Settings, *, older_than: float, now: float | None = None) -> list[Spool]:
    """The spool files last written more than ``older_than`` seconds ago."""
    now = time.time() if now is None else now
    found = []
    entries: list[os.DirEntry[str]] = []
    # Uploads spool in the folder itself, the mirror's file fetches in its "mirror" folder.
    for folder in (settings.tmp_dir, settings.tmp_dir / "mirror"):
        with contextlib.suppress(FileNotFoundError):
            entries.extend(os.scandir(folder))
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            info = entry.stat(follow_symlinks=False)
            age = now - info.st_mtime
            if entry.is_file(follow_symlinks=False) and age > older_than:
                found.append(Spool(Path(entry.path), info.st_size, age))
    return sorted(found, key=lambda s: s.path)


def clean_spools(settings: Settings, *, older_than: float) -> list[Spool]:
    """Remove the spools (and the local store's temporary files) older than ``older_than``
    seconds (0 at start-up: all of them); returns the spools removed."""
    removed = []
    for spool in stale_spools(settings, older_than=older_than):
        with contextlib.suppress(FileNotFoundError):
            spool.path.unlink()
            removed.append(spool)
    if settings.storage_url.startswith("file:") or "://" not in settings.storage_url:
        storage = open_storage(settings.storage_url)
        if isinstance(storage, LocalStorage):
            storage.remove_stale_temp_files(older_than=older_than)
    return removed


def _run(ctx: JobContext) -> JobResult:
    removed = clean_spools(ctx.settings, older_than=ctx.settings.spool_max_age)
    return JobResult(
        summary=f"{len(removed)} abandoned spool file(s) removed",
        changes=[f"removed {s.path.name} ({s.size} bytes, {s.age:.0f} s old)" for s in removed],
    )


SPOOL_CLEAN_JOB = Job(
    name="spool-clean",
    description="Remove upload spool files a killed worker left behind",
    interval=dt.timedelta(minutes=15),
    run=_run,
)
