"""Counting downloads from web server or CDN logs (``stockade stats ingest``).

Two formats:

- ``nginx``: the "combined" log format (also Apache's), one request per line::

      1.2.3.4 - - [24/Nov/2026:13:55:36 +0000] "GET /packages/aa/bb/<rest>/<file> HTTP/1.1" 200 …

- ``json``: one JSON object per line, as CDNs export them, with the request time in
  ``timestamp`` or ``time`` (ISO 8601, or seconds since the epoch), the path in ``path`` or
  ``url`` (a full URL is fine), the status in ``status`` or ``status_code`` and optionally the
  method in ``method`` (default GET).

What counts is what the in-process counter counts: a ``GET`` answered ``200`` of a file under
``/packages/`` that is not a ``.metadata`` sidecar; the file is found by the sha256 in its path
(deleted files too: they were downloaded). Lines that are something else (other paths, HEAD,
206, 304, garbage) are skipped and counted as such.

A file is ingested once: its sha256 and size go into ``ingested_logs`` in the same
transaction as its counts, and the sha256 is the primary key, so running the same file again,
even concurrently, changes nothing.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from stockade.db import Database
from stockade.index.models import File
from stockade.stats.counter import counts_as_download
from stockade.stats.counts import CountKey, add_counts
from stockade.stats.models import IngestedLog

__all__ = ["FORMATS", "IngestResult", "file_digest", "ingest_log", "parse_line"]

FORMATS = ("nginx", "json")

_COMBINED = re.compile(
    r'^\S+ \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+)(?: [^"]*)?" '
    r"(?P<status>\d{3}) "
)
_PACKAGE_PATH = re.compile(
    r"^/packages/(?P<a>[0-9a-f]{2})/(?P<b>[0-9a-f]{2})/(?P<rest>[0-9a-f]{60})/(?P<name>[^/]+)$"
)

# (sha256, filename, day)
Hit = tuple[str, str, dt.date]


@dataclass
class IngestResult:
    """What one ingestion found."""

    sha256: str
    size: int
    already: bool = False
    lines: int = 0
    downloads: int = 0
    skipped: int = 0
    unknown_files: int = 0
    per_day: dict[dt.date, int] = field(default_factory=dict)


def _download(method: str, path: str, status: int, when: dt.datetime) -> Hit | None:
    if method != "GET" or status != 200:
        return None
    match = _PACKAGE_PATH.match(urlsplit(path).path)
    if match is None or not counts_as_download(match["name"]):
        return None
    sha256 = match["a"] + match["b"] + match["rest"]
    return sha256, match["name"], when.astimezone(dt.UTC).date()


def _nginx(line: str) -> Hit | None:
    match = _COMBINED.match(line)
    if match is None:
        return None
    try:
        when = dt.datetime.strptime(match["time"], "%d/%b/%Y:%H:%M:%S %z")
    except ValueError:
        return None
    return _download(match["method"], match["path"], int(match["status"]), when)


def _json(line: str) -> Hit | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict):
        return None
    when = _when(row.get("timestamp", row.get("time")))
    path = row.get("path", row.get("url"))
    status = row.get("status", row.get("status_code"))
    method = row.get("method", "GET")
    if when is None or not isinstance(path, str) or not isinstance(method, str):
        return None
    try:
        code = int(status)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return _download(method.upper(), path, code, when)


def _when(value: Any) -> dt.datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


_PARSERS: dict[str, Callable[[str], Hit | None]] = {"nginx": _nginx, "json": _json}


def parse_line(log_format: str, line: str) -> Hit | None:
    """The download a log line records, or None when it records none."""
    return _PARSERS[log_format](line)


def file_digest(path: Path) -> tuple[str, int]:
    """The sha256 and size of a file (as stored, compressed or not)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _lines(raw: IO[bytes], gzipped: bool) -> Iterator[str]:
    stream: Iterator[bytes] = gzip.GzipFile(fileobj=raw) if gzipped else raw
    for line in stream:
        yield line.decode("utf-8", "replace")


def ingest_log(
    db: Database,
    path: Path,
    log_format: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> IngestResult:
    """Count the downloads in a log file (``.gz`` is read decompressed) once.

    ``progress`` is called with the number of (compressed) bytes read so far."""
    if log_format not in _PARSERS:
        raise ValueError(f"unknown log format {log_format!r}: use one of {', '.join(FORMATS)}")
    sha256, size = file_digest(path)
    result = IngestResult(sha256=sha256, size=size)
    with db.read() as session:
        if session.get(IngestedLog, sha256) is not None:
            result.already = True
            return result
    parse = _PARSERS[log_format]
    hits: dict[tuple[str, dt.date], int] = defaultdict(int)
    with path.open("rb") as raw:
        for i, line in enumerate(_lines(raw, path.suffix == ".gz"), 1):
            result.lines = i
            hit = parse(line)
            if hit is None:
                if line.strip():
                    result.skipped += 1
            else:
                hits[(hit[0], hit[2])] += 1
            if progress is not None and i % 2000 == 0:
                progress(raw.tell())
    if progress is not None:
        progress(size)
    digests = sorted({sha for sha, _day in hits})
    try:
        with db.write() as session:
            if session.get(IngestedLog, sha256) is not None:
                result.already = True
                return result
            files: dict[str, tuple[int, str]] = {}
            for i in range(0, len(digests), 500):
                for row in session.execute(
                    select(File.sha256_digest, File.project_id, File.packagetype).where(
                        File.sha256_digest.in_(digests[i : i + 500])
                    )
                ):
                    files[row.sha256_digest] = (row.project_id, row.packagetype)
            counts: dict[CountKey, int] = defaultdict(int)
            per_day: dict[dt.date, int] = defaultdict(int)
            for (sha, day), n in hits.items():
                if sha not in files:
                    result.unknown_files += n
                    continue
                project_id, packagetype = files[sha]
                counts[(project_id, packagetype, day)] += n
                per_day[day] += n
            result.downloads = add_counts(session, counts)
            result.per_day = dict(sorted(per_day.items()))
            session.add(
                IngestedLog(
                    sha256=sha256,
                    size=size,
                    filename=str(path)[-1024:],
                    log_format=log_format,
                    downloads=result.downloads,
                )
            )
    except IntegrityError:
        # The same file, ingested concurrently by another run: that one counted it.
        return IngestResult(sha256=sha256, size=size, already=True)
    return result
