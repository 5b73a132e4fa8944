"""Each worker's in-memory copy of rendered simple pages, kept fresh from the journal.

A request for a cached page touches no database. A miss loads the pre-rendered row from
``simple_pages`` (one indexed query). Every ``poll_interval`` seconds the worker reads the
journal entries newer than the last one it saw and drops the pages they name, so a page is
never staler than about one interval across workers. The worker that wrote a change drops
its own copy at once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stockade import faults
from stockade.db import Database
from stockade.index.models import JournalEntry, Project, SimplePage
from stockade.index.render import render_root_html, render_root_json, with_base_url

__all__ = ["CachedPage", "PageCache", "listed_projects", "listed_projects_with_serials"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedPage:
    """The two rendered forms of one page and their validators."""

    serial: int
    html: bytes
    json: bytes
    html_etag: str
    json_etag: str
    # What the read path builds once per page and answer kind, and reuses (the response
    # headers, see stockade.web.index.simple): the page outlives thousands of requests.
    answers: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, serial: int, html: bytes, json: bytes) -> CachedPage:
        """Compute strong ETags: one per representation."""
        return cls(
            serial=serial,
            html=html,
            json=json,
            html_etag=_etag(html),
            json_etag=_etag(json),
        )

    @property
    def nbytes(self) -> int:
        return len(self.html) + len(self.json)


def _etag(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:40]


def listed_projects(session: Session) -> tuple[list[tuple[str, str]], int]:
    """The projects a root page lists, as (name, normalized_name), and the newest serial.
    Deleted and quarantined projects are not listed (PEP 792)."""
    names, _, serial = listed_projects_with_serials(session)
    return names, serial


def listed_projects_with_serials(
    session: Session,
) -> tuple[list[tuple[str, str]], dict[str, int], int]:
    """As :func:`listed_projects`, with each listed project's own serial (by normalized name)."""
    names: list[tuple[str, str]] = []
    serials: dict[str, int] = {}
    for r in session.execute(
        select(Project.name, Project.normalized_name, Project.last_serial)
        .where(Project.deletion_id.is_(None), Project.status != "quarantined")
        .order_by(Project.normalized_name)
    ):
        names.append((r.name, r.normalized_name))
        serials[r.normalized_name] = r.last_serial
    return names, serials, session.scalar(select(func.max(JournalEntry.id))) or 0


class PageCache:
    """Rendered pages of one worker, bounded in bytes, invalidated from the journal."""

    def __init__(
        self,
        db: Database,
        *,
        poll_interval: float,
        max_bytes: int,
        base_url: str,
        extra_root_names: Callable[[Session], list[tuple[str, str]]] | None = None,
    ) -> None:
        self.db = db
        # More (name, normalized) pairs for the root list, none of them a project here (the
        # mirror's imported upstream project lists).
        self.extra_root_names = extra_root_names
        # The configured public base URL: provenance links are qualified with it on load
        # (see ``render.with_base_url``); empty, they stay relative.
        self.base_url = base_url
        self.poll_interval = poll_interval
        self.max_bytes = max_bytes
        self._pages: OrderedDict[str, CachedPage | None] = OrderedDict()
        self._bytes = 0
        self._root: CachedPage | None = None
        self._lock = threading.Lock()
        # Bumped by every invalidation: a load that raced with one is not cached.
        self._generation = 0
        self.seen_serial = 0
        # Called with (project name, action) for every journal entry the poller applies.
        self.listeners: list[Callable[[str, str], None]] = []

    # -- reads -------------------------------------------------------------------------------
    def peek(self, name: str) -> CachedPage | bool | None:
        """The cached page, None for a cached 'no such project', or False on a miss."""
        try:
            page = self._pages[name]
        except KeyError:
            return False
        self._pages.move_to_end(name)
        return page

    def load(self, name: str) -> CachedPage | None:
        """Load a page from the database (a miss); None when there is no such project."""
        generation = self._generation
        with self.db.read() as session:
            row = session.execute(
                select(SimplePage.serial, SimplePage.html, SimplePage.json).where(
                    SimplePage.normalized_name == name
                )
            ).one_or_none()
        page = None
        if row is not None:
            html, json = with_base_url(row.html, row.json, self.base_url)
            page = CachedPage.build(row.serial, html, json)
        self._store(name, page, generation)
        return page

    def cached_root(self) -> CachedPage | None:
        """The root page if this worker has it rendered, else None."""
        return self._root

    def root(self) -> CachedPage:
        """The root index, rendered on first use after any change (its JSON form carries each
        project's serial).

        The root may be read from the database before this worker's poller has seen the newest
        journal entries. A project page must never carry a lower serial than the root promised
        for it (a mirror reads that as a stale cache), so once the root is read, every cached
        page older than its listed serial (and every cached "no such project" for a listed
        name) is dropped, and loads already under way are not cached: the next request for
        such a page reads it from the database, at least as new as the root."""
        root = self._root
        if root is not None:
            return root
        generation = self._generation
        with self.db.read() as session:
            names, serials, serial = listed_projects_with_serials(session)
            if self.extra_root_names is not None:
                extra = self.extra_root_names(session)
                if extra:
                    names = sorted(names + extra, key=lambda pair: pair[1])
        root = CachedPage.build(
            serial, render_root_html(names), render_root_json(names, serial, serials)
        )
        with self._lock:
            if generation == self._generation:
                self._root = root
            self._generation += 1
            older = [
                name
                for name, page in self._pages.items()
                if (page.serial if page is not None else -1) < serials.get(name, -1)
            ]
            for name in older:
                page = self._pages.pop(name)
                if page is not None:
                    self._bytes -= page.nbytes
        return root

    # -- invalidation --------------------------------------------------------------------------
    def invalidate(self, name: str, *, root: bool = False) -> None:
        """Forget one project's pages (and the root page when projects were added/removed)."""
        faults.point("page:published")
        with self._lock:
            self._generation += 1
            page = self._pages.pop(name, None)
            if page is not None:
                self._bytes -= page.nbytes
            if root:
                self._root = None

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._generation += 1
            self._pages.clear()
            self._bytes = 0
            self._root = None

    def _store(self, name: str, page: CachedPage | None, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            old = self._pages.pop(name, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._pages[name] = page
            if page is not None:
                self._bytes += page.nbytes
            while self._bytes > self.max_bytes and len(self._pages) > 1:
                _, evicted = self._pages.popitem(last=False)
                if evicted is not None:
                    self._bytes -= evicted.nbytes

    # -- the journal poller --------------------------------------------------------------------
    def start_serial(self) -> None:
        """Remember the newest journal entry: everything before it is already reflected."""
        with self.db.read() as session:
            self.seen_serial = session.scalar(select(func.max(JournalEntry.id))) or 0

    def poll_once(self) -> int:
        """Apply journal entries newer than the last seen; returns how many were applied."""
        with self.db.read() as session:
            newest = session.scalar(select(func.max(JournalEntry.id))) or 0
            if newest <= self.seen_serial:
                return 0
            rows = session.execute(
                select(JournalEntry.id, JournalEntry.name, JournalEntry.action)
                .where(JournalEntry.id > self.seen_serial)
                .order_by(JournalEntry.id)
                .limit(10_000)
            ).all()
        if len(rows) >= 10_000:
            self.clear()
            for listener in self.listeners:
                listener("", "many changes")
            self.seen_serial = newest
            return len(rows)
        for row in rows:
            # Every change moves a serial the root's JSON form lists.
            self.invalidate(row.name, root=True)
            for listener in self.listeners:
                listener(row.name, row.action)
        self.seen_serial = rows[-1].id if rows else newest
        return len(rows)

    async def run_poller(self) -> None:
        """Poll the journal forever (cancelled at shutdown)."""
        while True:
            await anyio.sleep(self.poll_interval)
            try:
                await anyio.to_thread.run_sync(self.poll_once)
            except Exception:
                log.exception("journal poll failed; will retry")
