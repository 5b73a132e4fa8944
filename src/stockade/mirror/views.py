"""Policy views: the same index, filtered by a named policy, per file and per version.

``/views/<view>/simple/`` lists the projects a view allows and ``/views/<view>/simple/<name>/``
the files of a project that pass every rule of the view: allow and deny lists (names and
version specifiers), a minimum age, attested files only, files sent by trusted publishing
only. A version whose files all fail is not on the page, so pip and uv resolve to the newest
version that passes. Pages are rendered by ``stockade.index.render`` from the project's state
as the view selects it, and kept per worker like the public pages (:class:`ViewPages`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
import time
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.twofactor.factors import has_two_factor
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.index.cache import CachedPage, PageCache, listed_projects
from stockade.index.models import File, Project, Role
from stockade.index.render import (
    FileEntry,
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
    with_base_url,
)
from stockade.index.state import load_state
from stockade.mirror.errors import MirrorError
from stockade.mirror.models import PolicyView
from stockade.stats.models import DownloadTotal

__all__ = ["Policy", "ViewPages", "create_view", "remove_view"]

_VIEW_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")
# How long a worker keeps the list of views, and a rendered view page with a minimum age
# (files age into it), before reading them again (seconds).
VIEWS_TTL = 5.0
AGED_PAGE_TTL = 60.0


def _requirements(specs: list[str], option: str) -> list[Requirement]:
    parsed = []
    for spec in specs:
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            raise MirrorError(400, f"{option} {spec!r}: not a requirement ({exc})") from exc
        if req.marker or req.url or req.extras:
            raise MirrorError(400, f"{option} {spec!r}: a name and version specifiers only")
        parsed.append(req)
    return parsed


def create_view(
    session: Session,
    name: str,
    *,
    min_age_days: float | None = None,
    attested_only: bool = False,
    trusted_publishing_only: bool = False,
    min_downloads: int | None = None,
    maintainers_2fa: bool = False,
    allow: list[str] | None = None,
    deny: list[str] | None = None,
    origin: Origin,
    actor_id: int | None,
) -> PolicyView:
    """Create (or replace) the view ``name``."""
    if not _VIEW_NAME.match(name):
        raise MirrorError(400, f"Invalid view name {name!r}: lower-case letters, digits and -.")
    if (min_age_days is not None and min_age_days < 0) or (
        min_downloads is not None and min_downloads < 0
    ):
        raise MirrorError(400, "The minimum age and downloads cannot be negative.")
    allow, deny = list(allow or []), list(deny or [])
    _requirements(allow, "--allow")
    _requirements(deny, "--deny")
    view = session.scalar(select(PolicyView).where(PolicyView.name == name))
    if view is None:
        view = PolicyView(name=name)
        session.add(view)
    view.min_age_days, view.allow, view.deny = min_age_days, allow, deny
    view.attested_only, view.trusted_publishing_only = attested_only, trusted_publishing_only
    view.min_downloads, view.maintainers_2fa = min_downloads, maintainers_2fa
    view.created_by_id = actor_id
    view.created_at = utcnow()
    session.flush()
    record(
        session,
        "view:create",
        origin=origin,
        actor_id=actor_id,
        summary=f"policy view {name}: {Policy.of(view).describe()}",
        view=name,
    )
    return view


def remove_view(session: Session, name: str, *, origin: Origin, actor_id: int | None) -> None:
    view = session.scalar(select(PolicyView).where(PolicyView.name == name))
    if view is None:
        raise MirrorError(404, f"No view named {name!r}.")
    session.delete(view)
    record(
        session,
        "view:remove",
        origin=origin,
        actor_id=actor_id,
        summary=f"policy view {name} removed",
        view=name,
    )


@dataclass(frozen=True)
class Policy:
    """A view's rules, detached from the database."""

    name: str
    min_age_days: float | None
    attested_only: bool
    trusted_publishing_only: bool
    min_downloads: int | None
    maintainers_2fa: bool
    allow: tuple[Requirement, ...]
    deny: tuple[Requirement, ...]
    # Changes whenever the view is created again.
    stamp: str

    @classmethod
    def of(cls, view: PolicyView) -> Policy:
        return cls(
            name=view.name,
            min_age_days=view.min_age_days,
            attested_only=view.attested_only,
            trusted_publishing_only=view.trusted_publishing_only,
            min_downloads=view.min_downloads,
            maintainers_2fa=view.maintainers_2fa,
            allow=tuple(_requirements(list(view.allow), "--allow")),
            deny=tuple(_requirements(list(view.deny), "--deny")),
            stamp=view.created_at.isoformat(),
        )

    def describe(self) -> str:
        rules = []
        if self.min_age_days is not None:
            rules.append(f"files at least {self.min_age_days:g} day(s) old")
        if self.attested_only:
            rules.append("attested files only")
        if self.trusted_publishing_only:
            rules.append("files sent by trusted publishing only")
        if self.min_downloads is not None:
            rules.append(f"projects with at least {self.min_downloads} download(s)")
        if self.maintainers_2fa:
            rules.append("local projects whose maintainers all have 2FA")
        if self.allow:
            rules.append("only " + ", ".join(map(str, self.allow)))
        if self.deny:
            rules.append("never " + ", ".join(map(str, self.deny)))
        return "; ".join(rules) or "everything"

    def allows_name(self, normalized: str) -> bool:
        if any(canonicalize_name(r.name) == normalized and not r.specifier for r in self.deny):
            return False
        return not self.allow or any(canonicalize_name(r.name) == normalized for r in self.allow)

    def allows_version(self, normalized: str, version: str) -> bool:
        try:
            parsed = Version(version)
        except InvalidVersion:
            return False
        for r in self.deny:
            if canonicalize_name(r.name) == normalized and r.specifier.contains(
                parsed, prereleases=True
            ):
                return False
        if not self.allow:
            return True
        return any(
            canonicalize_name(r.name) == normalized
            and r.specifier.contains(parsed, prereleases=True)
            for r in self.allow
        )

    def allows_file(
        self, normalized: str, entry: FileEntry, published: set[str], now: dt.datetime
    ) -> bool:
        if not self.allows_version(normalized, entry.version):
            return False
        if self.attested_only and entry.provenance_url is None:
            return False
        if self.trusted_publishing_only and entry.filename not in published:
            return False
        if self.min_age_days is not None:
            return entry.upload_time + dt.timedelta(days=self.min_age_days) <= now
        return True


def render_view(session: Session, policy: Policy, project: Project) -> tuple[bytes, bytes]:
    """The project's pages as the view selects them (no files if the view denies the name)."""
    state = load_state(session, project)
    published = set(
        session.scalars(
            select(File.filename).where(
                File.project_id == project.id, File.publisher_id.is_not(None)
            )
        )
    )
    now = utcnow()
    name = project.normalized_name
    allowed = policy.allows_name(name) and bool(passing_projects(session, policy, [project.id]))
    files = tuple(e for e in state.files if allowed and policy.allows_file(name, e, published, now))
    versions = sorted({e.version for e in files}, key=state.versions.index)
    view_state = dataclasses.replace(state, files=files, versions=tuple(versions))
    return render_project_html(view_state), render_project_json(view_state)


def passing_projects(session: Session, policy: Policy, project_ids: list[int]) -> set[int]:
    """Which of the projects pass the view's project rules (downloads, maintainers' 2FA)."""
    passing = set(project_ids)
    if policy.min_downloads is not None and passing:
        totals = dict(
            session.execute(
                select(DownloadTotal.project_id, DownloadTotal.window_total).where(
                    DownloadTotal.project_id.in_(passing)
                )
            ).all()
        )
        passing = {p for p in passing if totals.get(p, 0) >= policy.min_downloads}
    if policy.maintainers_2fa and passing:
        checked: dict[int, bool] = {}
        for project_id, user_id in session.execute(
            select(Role.project_id, Role.user_id).where(Role.project_id.in_(passing))
        ).all():
            if user_id not in checked:
                checked[user_id] = has_two_factor(session, user_id)
            if not checked[user_id]:
                passing.discard(project_id)
    return passing


class ViewPages:
    """One worker's rendered view pages, dropped when the journal names their project."""

    def __init__(self, db: Database, pages: PageCache) -> None:
        self.db = db
        self.base_url = pages.base_url
        self._pages: dict[tuple[str, str], tuple[CachedPage | None, float]] = {}
        self._roots: dict[str, tuple[CachedPage, float]] = {}
        self._views: dict[str, Policy] = {}
        self._views_read = -1e9
        self._lock = threading.Lock()
        pages.listeners.append(self._journal_changed)

    def _journal_changed(self, name: str, action: str) -> None:
        with self._lock:
            if not name:
                self._pages.clear()
            else:
                for key in [k for k in self._pages if k[1] == name]:
                    del self._pages[key]
            self._roots.clear()

    def policy(self, view: str) -> Policy | None:
        """The view (read again every VIEWS_TTL seconds); None when there is no such view."""
        now = time.monotonic()
        if now - self._views_read > VIEWS_TTL:
            with self.db.read() as session:
                views = {v.name: Policy.of(v) for v in session.scalars(select(PolicyView))}
            with self._lock:
                if {p.stamp for p in views.values()} != {p.stamp for p in self._views.values()}:
                    self._pages.clear()
                    self._roots.clear()
                self._views, self._views_read = views, now
        return self._views.get(view)

    def peek(self, view: str, name: str) -> CachedPage | bool | None:
        """A cached view page, None for a cached 'no such project', False on a miss."""
        hit = self._pages.get((view, name))
        if hit is None or time.monotonic() > hit[1]:
            return False
        return hit[0]

    def load(self, policy: Policy, name: str) -> CachedPage | None:
        """Render the view's page of ``name`` (in a worker thread)."""
        with self.db.read() as session:
            project = session.scalar(select(Project).where(Project.normalized_name == name))
            page = None
            if project is not None and project.deletion_id is None:
                html, json = render_view(session, policy, project)
                html, json = with_base_url(html, json, self.base_url)
                page = CachedPage.build(project.last_serial, html, json)
        ttl = AGED_PAGE_TTL if policy.min_age_days is not None else float("inf")
        with self._lock:
            self._pages[(policy.name, name)] = (page, time.monotonic() + ttl)
        return page

    def root(self, policy: Policy) -> CachedPage:
        hit = self._roots.get(policy.name)
        if hit is not None and time.monotonic() < hit[1]:
            return hit[0]
        with self.db.read() as session:
            listed, serial = listed_projects(session)
            names = [pair for pair in listed if policy.allows_name(pair[1])]
            if policy.min_downloads is not None or policy.maintainers_2fa:
                ids = dict(
                    session.execute(
                        select(Project.normalized_name, Project.id).where(
                            Project.normalized_name.in_([n for _, n in names])
                        )
                    ).all()
                )
                keep = passing_projects(session, policy, list(ids.values()))
                names = [pair for pair in names if ids.get(pair[1]) in keep]
        root = CachedPage.build(serial, render_root_html(names), render_root_json(names, serial))
        with self._lock:
            self._roots[policy.name] = (root, time.monotonic() + AGED_PAGE_TTL)
        return root
