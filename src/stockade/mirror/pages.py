"""The read path's view of the mirror, per worker: which names are whose, and until when fresh.

A page request for a name this worker has seen costs a dictionary look-up: :meth:`peek` says
whether the cached page (or cached "no such project") may be served as it is, is stale (serve
it, refresh in the background), or must be resolved now. :meth:`resolve` runs in a worker
thread on a miss: it reads the name's mirror state once, fetches from upstream when the name is
unknown or expired and has no page to serve meanwhile, and loads the rendered page.

One refresher across workers: :class:`stockade.mirror.services.Mirror` takes the project's
lease. A worker that finds another refreshing serves what it has (or waits briefly for a first
page).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from sqlalchemy import select

from stockade.db.base import utcnow
from stockade.index.cache import CachedPage, PageCache
from stockade.index.models import Project
from stockade.mirror.models import (
    ORIGIN_LOCAL,
    PROJECT_ERROR,
    PROJECT_OK,
    MirrorOrigin,
    MirrorProject,
    MirrorUpstream,
)
from stockade.mirror.queries import lists_synced_at
from stockade.mirror.rules import is_local
from stockade.mirror.services import Mirror, Refreshed, enabled_upstreams

__all__ = ["FRESH", "REFRESH", "STALE", "MirrorPages", "Resolved"]

log = logging.getLogger(__name__)

FRESH = "fresh"
STALE = "stale"
REFRESH = "refresh"

# How long a worker keeps its list of upstreams before reading it again (seconds).
UPSTREAMS_TTL = 5.0
# After a failed refresh, the stale page is served this long before the next try (seconds).
RETRY_AFTER = 15.0
# A normalized project name (PEP 503/508).
_VALID_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,253}[a-z0-9])?$")
# How often a worker asks whether an upstream project list was imported (seconds).
LIST_CHECK = 30.0
# How long a first request waits for another worker's first fetch of the same name.
WAIT_FOR_OTHER = 15.0


@dataclass
class _Entry:
    # time.monotonic() until which the page is fresh (inf: not the mirror's).
    fresh_until: float
    # Set while upstream is failing: the page served is stale because of it.
    stale_error: str | None = None


@dataclass(frozen=True)
class Resolved:
    """A miss's answer: the page (None: no such project), whether it is stale because
    upstream failed, and whether upstream is unavailable with nothing to serve."""

    page: CachedPage | None
    stale_error: str | None = None
    unavailable: str | None = None


class MirrorPages:
    """One worker's mirror state for the simple API."""

    def __init__(self, mirror: Mirror, pages: PageCache) -> None:
        self.mirror = mirror
        self.pages = pages
        self._entries: dict[str, _Entry] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()
        self._upstreams: list[MirrorUpstream] = []
        self._upstreams_read = -1e9
        self._lists_checked = time.monotonic()
        self._lists_seen: object = None
        self._lists_checking = False

    # -- the hot path: no database ----------------------------------------------------------
    def peek(self, name: str) -> tuple[str, str | None]:
        """(FRESH | STALE | REFRESH, the stale reason): what to do with a cached answer."""
        entry = self._entries.get(name)
        if entry is None:
            return FRESH, None
        if time.monotonic() < entry.fresh_until:
            return FRESH, entry.stale_error
        return STALE, entry.stale_error

    def check_root(self) -> None:
        """At most every LIST_CHECK seconds, in a thread: when an upstream project list was
        imported since, the root page is rendered again (with the new names)."""
        now = time.monotonic()
        if self._lists_checking or now - self._lists_checked < LIST_CHECK:
            return
        self._lists_checking, self._lists_checked = True, now

        def run() -> None:
            try:
                with self.mirror.db.read() as session:
                    synced = lists_synced_at(session)
                if synced != self._lists_seen:
                    self._lists_seen = synced
                    self.pages.invalidate("", root=True)
            except Exception:
                log.exception("checking the imported project lists failed")
            finally:
                self._lists_checking = False

        threading.Thread(target=run, name="mirror-list-check", daemon=True).start()

    # -- in a worker thread ---------------------------------------------------------------------
    def upstreams(self) -> list[MirrorUpstream]:
        now = time.monotonic()
        if now - self._upstreams_read > UPSTREAMS_TTL:
            with self.mirror.db.read() as session:
                rows = enabled_upstreams(session)
                session.expunge_all()
            self._upstreams, self._upstreams_read = rows, now
        return self._upstreams

    def resolve(self, name: str) -> Resolved:
        """A miss: decide from the database (and upstream if needed), then load the page."""
        name = canonicalize_name(name)
        upstreams = self.upstreams()
        if not upstreams or not _VALID_NAME.match(name):
            # Not a project name (PEP 508): no upstream is asked, nothing is recorded.
            page = self.pages.load(name)
            # "No such project" is asked again soon: an upstream may be added meanwhile.
            self._set(name, float("inf") if page else time.monotonic() + UPSTREAMS_TTL, None)
            return Resolved(page)
        state = self._state(name, upstreams)
        if state is None:  # local: the mirror has no say
            self._set(name, float("inf"), None)
            return Resolved(self.pages.load(name))
        fresh_for, error = state
        if fresh_for > 0:
            self._set(name, time.monotonic() + fresh_for, error)
            page = self.pages.load(name)
            if page is None and error:
                return Resolved(None, unavailable=error)
            return Resolved(page, stale_error=error)
        page = self.pages.load(name)
        if page is not None:
            # Stale: serve it and refresh behind it.
            self._set(name, 0.0, error)
            self.refresh_in_background(name)
            return Resolved(page, stale_error=error)
        outcome = self._refresh_now(name)
        page = self.pages.load(name)
        if outcome.outcome == "error" and page is None:
            return Resolved(None, unavailable=outcome.error)
        return Resolved(page, stale_error=outcome.error if outcome.outcome == "error" else None)

    def _state(self, name: str, upstreams: list[MirrorUpstream]) -> tuple[float, str | None] | None:
        """None when the name is local; else (seconds it stays fresh, upstream's error)."""
        now = utcnow()
        with self.mirror.db.read() as session:
            rule = session.scalar(select(MirrorOrigin).where(MirrorOrigin.normalized_name == name))
            if rule is not None and rule.mode == ORIGIN_LOCAL:
                return None
            project = session.scalar(select(Project).where(Project.normalized_name == name))
            if rule is None and project is not None and is_local(session, project):
                return None
            rows = {
                mp.upstream_id: mp
                for mp in session.scalars(
                    select(MirrorProject).where(MirrorProject.normalized_name == name)
                )
            }
        # The first upstream (by priority) that has the name decides; names missing
        # everywhere stay "no such project" until the first of those answers expires.
        soonest = float("inf")
        for upstream in upstreams:
            mp = rows.get(upstream.id)
            if mp is None or mp.checked_at is None:
                return 0.0, None
            expires = mp.checked_at + dt.timedelta(seconds=upstream.ttl_seconds)
            remaining = max(0.0, (expires - now).total_seconds())
            if mp.status in (PROJECT_OK, PROJECT_ERROR):
                return remaining, mp.last_error
            if remaining == 0.0:
                return 0.0, None
            soonest = min(soonest, remaining)
        return soonest, None

    def _set(self, name: str, fresh_until: float, error: str | None) -> None:
        with self._lock:
            self._entries[name] = _Entry(fresh_until, error)

    def _refresh_now(self, name: str) -> Refreshed:
        deadline = time.monotonic() + WAIT_FOR_OTHER
        while True:
            outcome = self.mirror.refresh(name)
            if outcome.outcome != "busy" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self._after(name, outcome)
        return outcome

    def _after(self, name: str, outcome: Refreshed) -> None:
        if outcome.outcome == "error":
            self._set(name, time.monotonic() + RETRY_AFTER, outcome.error)
        elif outcome.outcome == "busy":
            self._set(name, time.monotonic() + 1.0, None)
        elif outcome.outcome in ("local", "none"):
            self._set(name, float("inf"), None)
        else:
            ttl = (
                (outcome.fresh_until - utcnow()).total_seconds()
                if outcome.fresh_until is not None
                else RETRY_AFTER
            )
            self._set(name, time.monotonic() + max(ttl, 0.0), None)

    def refresh_in_background(self, name: str) -> None:
        """Refresh in a thread of this worker (one per name at a time)."""
        with self._lock:
            if name in self._refreshing:
                return
            self._refreshing.add(name)
            entry = self._entries.get(name)
            if entry is not None:
                # Until the refresh ends, keep serving what we have without asking again.
                entry.fresh_until = time.monotonic() + RETRY_AFTER

        def run() -> None:
            try:
                outcome = self.mirror.refresh(name)
                self._after(name, outcome)
            except Exception:
                log.exception("refreshing %s from upstream failed", name)
            finally:
                with self._lock:
                    self._refreshing.discard(name)

        threading.Thread(target=run, name=f"mirror-refresh-{name}", daemon=True).start()

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)
