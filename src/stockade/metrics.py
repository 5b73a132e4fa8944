"""Prometheus metrics: what every layer counts, and their exposition for ``/metrics``.

Each worker of ``stockade serve --workers N`` is its own process. ``stockade serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at an emptied ``<data>/metrics`` folder before it starts them, so
prometheus_client keeps every counter in a per-process file there, and :func:`exposition`
sums the files of all workers: whichever worker answers ``/metrics`` reports the whole server.
Without the variable (tests, a single embedded app) the counters live in this process.

Labels are bounded sets (route groups, reasons, job names), never a path or a project name.

The request path (``/simple/`` above all) does not write these shared counters itself: each
write to a multiprocess value takes a lock and an mmap write (a few microseconds, as much as
serving a cached page). :data:`TALLY` keeps the per-request figures in plain dicts instead, and
the app adds them to the shared counters every second and once more at shutdown.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import defaultdict

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

__all__ = [
    "DB_RETRIES",
    "JOB_RUNS",
    "MULTIPROC_ENV",
    "PAGE_CACHE",
    "REQUESTS",
    "REQUEST_SECONDS",
    "TALLY",
    "UPLOADS",
    "UPLOAD_REFUSALS",
    "RequestTally",
    "exposition",
    "refusal_reason",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "stockade_http_requests",
    "HTTP requests answered, by route group and status",
    ["group", "status"],
)
REQUEST_SECONDS = Histogram(
    "stockade_http_request_duration_seconds",
    "Time to answer a request (to the end of its body), by route group",
    ["group"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
UPLOADS = Counter(
    "stockade_uploads", "Uploads accepted, by outcome (created, exists, held)", ["outcome"]
)
UPLOAD_REFUSALS = Counter(
    "stockade_upload_refusals", "Uploads refused, by reason", ["reason", "status"]
)
PAGE_CACHE = Counter(
    "stockade_page_cache_lookups", "Simple-page lookups in a worker's cache (hit, miss)", ["result"]
)
JOB_RUNS = Counter("stockade_job_runs", "Background job runs, by job and status", ["job", "status"])
DB_RETRIES = Counter(
    "stockade_db_retries",
    "Write transactions run again after a transient conflict, by reason",
    ["reason"],
)

_BOUNDS = REQUEST_SECONDS._upper_bounds  # the buckets' upper bounds, +Inf last


class RequestTally:
    """The hot path's counts in this process, added to the shared counters by :meth:`flush`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._buckets: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._seconds: defaultdict[str, float] = defaultdict(float)
        self._cache: defaultdict[str, int] = defaultdict(int)

    def request(self, group: str, status: int, seconds: float) -> None:
        """One request of ``group`` answered with ``status`` in ``seconds``."""
        bucket = bisect.bisect_left(_BOUNDS, seconds)
        with self._lock:
            self._requests[group, status] += 1
            self._buckets[group, bucket] += 1
            self._seconds[group] += seconds

    def page_cache(self, result: str) -> None:
        """One simple-page lookup: ``hit`` or ``miss``."""
        with self._lock:
            self._cache[result] += 1

    def flush(self) -> None:
        """Add what was tallied since the last flush to the shared counters."""
        with self._lock:
            requests, self._requests = self._requests, defaultdict(int)
            buckets, self._buckets = self._buckets, defaultdict(int)
            seconds, self._seconds = self._seconds, defaultdict(float)
            cache, self._cache = self._cache, defaultdict(int)
        for (group, status), n in requests.items():
            REQUESTS.labels(group, str(status)).inc(n)
        for (group, bucket), n in buckets.items():
            # prometheus_client offers observe(one value) only; its per-bucket values take
            # a count (the exposition makes them cumulative).
            REQUEST_SECONDS.labels(group)._buckets[bucket].inc(n)
        for group, total in seconds.items():
            REQUEST_SECONDS.labels(group)._sum.inc(total)
        for result, n in cache.items():
            PAGE_CACHE.labels(result).inc(n)


TALLY = RequestTally()

_REFUSALS = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    409: "conflict",
    411: "no-length",
    413: "too-large",
    415: "not-a-form",
    429: "rate-limited",
}


def refusal_reason(status: int) -> str:
    """The reason label of an upload refused with ``status`` (PyPI's statuses name them)."""
    return _REFUSALS.get(status, "other")


def exposition() -> tuple[bytes, str]:
    """The text exposition of every counter (summed over the workers) and its content type."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
