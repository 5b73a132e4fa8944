"""Policy views: the same index, filtered by a named policy, per file and per version.

``/views/<view>/simple/`` lists the projects a view allows and ``/views/<view>/simple/<name>/``
the files of a project that pass every rule of the view: allow and deny lists (names and
version specifiers), a minimum age, attested files only, files sent by trusted publishing
only, projects downloaded often enough, local projects whose maintainers all have 2FA, and
versions no known advisory affects. A version whose files all fail is not on the page, so pip
and uv resolve to the newest version that passes. Pages are rendered by
``stockade.index.render`` from the project's state as the view selects it, and kept per worker
like the public pages (:class:`ViewPages`), with the set of files the view lets through: the
view's file URLs (``/views/<view>/packages/…``) serve only those.

"No known vulnerability" is only as good as the advisories imported
(``stockade advisories import``). Until some were, nothing is known, so nothing is left out:
the view says so (``stockade view list``, :func:`view_summaries`, and a header on its pages)
rather than pretend the check was made. An import drops the rendered pages of such views, so a
version an advisory newly affects is gone from them within ``VIEWS_TTL`` seconds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.twofactor.factors import has_two_factor
from stockade.advisories.queries import import_stamp, matches_for_many
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.index.cache import CachedPage, PageCache, listed_projects
from stockade.index.models import File, Project, Role
from stockade.index.render import (
    FileEntry,
    ProjectState,
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

__all__ = [
    "UNCHECKED",
    "VIEWS_TTL",
    "Policy",
    "ViewPage",
    "ViewPages",
    "create_view",
    "remove_view",
    "select_state",
    "view_policy",
    "view_summaries",
]

_VIEW_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")
# How long a worker keeps the list of views (and the advisories' import stamp) before reading
# them again, and a rendered view page whose rules depend on time or on counts the journal does
# not report (a minimum age, downloads, maintainers' 2FA), in seconds.
VIEWS_TTL = 5.0
VIEW_MISS_RECHECK = 1.0
AGED_PAGE_TTL = 60.0
# How many file names a worker remembers the project of (for the views' file URLs).
_FILE_NAMES = 100_000
# Said on the pages of a "no known vulnerability" view while no advisory was ever imported.
UNCHECKED = "no advisories imported: known vulnerabilities are not filtered out"


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
    no_known_vulns: bool = False,
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
    view.no_known_vulns = no_known_vulns
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
    no_known_vulns: bool
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
            no_known_vulns=view.no_known_vulns,
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
        if self.no_known_vulns:
            rules.append("versions no known advisory affects")
        if self.allow:
            rules.append("only " + ", ".join(map(str, self.allow)))
        if self.deny:
            rules.append("never " + ", ".join(map(str, self.deny)))
        return "; ".join(rules) or "everything"

    @property
    def changes_unjournaled(self) -> bool:
        """Whether the view's pages depend on time or on counts the journal does not report."""
        return (
            self.min_age_days is not None or self.min_downloads is not None or self.maintainers_2fa
        )

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


def select_state(session: Session, policy: Policy, project: Project) -> ProjectState:
    """The project's state as the view selects it: only the files (and the versions with a
    file) that pass every rule; nothing when the view leaves the project out."""
    state = load_state(session, project)
    name = project.normalized_name
    if (
        state.status == "quarantined"
        or not policy.allows_name(name)
        or not passing_projects(session, policy, [project.id])
    ):
        return dataclasses.replace(state, files=(), versions=())
    published = set(
        session.scalars(
            select(File.filename).where(
                File.project_id == project.id, File.publisher_id.is_not(None)
            )
        )
    )
    now = utcnow()
    files = [e for e in state.files if policy.allows_file(name, e, published, now)]
    if policy.no_known_vulns and files:
        candidates = sorted({e.version for e in files})
        matches = matches_for_many(session, [(name, v) for v in candidates])
        affected = {v for v, m in zip(candidates, matches, strict=True) if m}
        files = [e for e in files if e.version not in affected]
    versions = sorted({e.version for e in files}, key=state.versions.index)
    return dataclasses.replace(state, files=tuple(files), versions=tuple(versions))


def render_view(
    session: Session, policy: Policy, project: Project
) -> tuple[bytes, bytes, frozenset[str]]:
    """The project's pages as the view selects them, and the names of the files on them."""
    state = select_state(session, policy, project)
    allowed = frozenset(e.filename for e in state.files)
    return render_project_html(state), render_project_json(state), allowed


def view_policy(session: Session, name: str) -> Policy | None:
    """The view named ``name``, or None."""
    view = session.scalar(select(PolicyView).where(PolicyView.name == name))
    return Policy.of(view) if view is not None else None


def view_summaries(session: Session) -> list[dict[str, Any]]:
    """Every view with its rules, for ``stockade view list`` and the admin pages. A view that
    leaves out known vulnerabilities says when none were imported (``unchecked``)."""
    imported = import_stamp(session)[0] > 0
    rows = []
    for v in session.scalars(select(PolicyView).order_by(PolicyView.name)):
        rules = Policy.of(v).describe()
        unchecked = v.no_known_vulns and not imported
        rows.append(
            {
                "name": v.name,
                "path": f"/views/{v.name}/simple/",
                "min_age_days": v.min_age_days,
                "attested_only": v.attested_only,
                "trusted_publishing_only": v.trusted_publishing_only,
                "min_downloads": v.min_downloads,
                "maintainers_2fa": v.maintainers_2fa,
                "no_known_vulns": v.no_known_vulns,
                "allow": list(v.allow),
                "deny": list(v.deny),
                "rules": rules + (f" ({UNCHECKED})" if unchecked else ""),
                "unchecked": unchecked,
                "created_at": v.created_at.isoformat(),
            }
        )
    return rows


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


@dataclass(frozen=True)
class ViewPage:
    """One project's view page (None: no such project) and the files the view lets through."""

    page: CachedPage | None
    allowed: frozenset[str]
    # time.monotonic() after which it is rendered again.
    expires: float


class ViewPages:
    """One worker's rendered view pages, dropped when the journal names their project (and,
    for views that leave out known vulnerabilities, when advisories were imported)."""

    def __init__(self, db: Database, pages: PageCache) -> None:
        self.db = db
        self.base_url = pages.base_url
        self._pages: dict[tuple[str, str], ViewPage] = {}
        self._roots: dict[str, tuple[CachedPage, float]] = {}
        self._views: dict[str, Policy] = {}
        self._views_read = -1e9
        self._advisories: tuple[int, dt.datetime | None] | None = None
        # Whether any advisory was ever imported ("no known vulnerability" means something).
        self.advisories_imported = False
        # File name -> its project's normalized name (a file name is never reused).
        self._projects: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by every invalidation: a page rendered across one is served, not kept.
        self._generation = 0
        pages.listeners.append(self._journal_changed)

    def _journal_changed(self, name: str, action: str) -> None:
        with self._lock:
            self._generation += 1
            if not name:
                self._pages.clear()
            else:
                for key in [k for k in self._pages if k[1] == name]:
                    del self._pages[key]
            self._roots.clear()

    def known_policy(self, view: str) -> Policy | bool | None:
        """The view as last read (None: no such view), or False when the views are due to be
        read again (:meth:`policy`, in a thread)."""
        if self._due(view, time.monotonic()):
            return False
        return self._views.get(view)

    def _due(self, view: str, now: float) -> bool:
        """The views are read again every VIEWS_TTL seconds, and at most once a second sooner
        for a name not known yet: a view just created is served at once."""
        age = now - self._views_read
        return age > VIEWS_TTL or (view not in self._views and age > VIEW_MISS_RECHECK)

    def policy(self, view: str) -> Policy | None:
        """The view (read again every VIEWS_TTL seconds); None when there is no such view."""
        now = time.monotonic()
        if self._due(view, now):
            with self.db.read() as session:
                views = {v.name: Policy.of(v) for v in session.scalars(select(PolicyView))}
                stamp = import_stamp(session)
            with self._lock:
                if {p.stamp for p in views.values()} != {p.stamp for p in self._views.values()}:
                    self._generation += 1
                    self._pages.clear()
                    self._roots.clear()
                if stamp != self._advisories:
                    # Advisories changed: the views that leave vulnerable versions out render
                    # their pages again.
                    self._generation += 1
                    vulns = {p.name for p in views.values() if p.no_known_vulns}
                    for key in [k for k in self._pages if k[0] in vulns]:
                        del self._pages[key]
                self._advisories, self.advisories_imported = stamp, stamp[0] > 0
                self._views, self._views_read = views, now
        return self._views.get(view)

    def peek(self, view: str, name: str) -> ViewPage | None:
        """The cached view page of ``name``, or None on a miss."""
        hit = self._pages.get((view, name))
        if hit is None or time.monotonic() > hit.expires:
            return None
        return hit

    def load(self, policy: Policy, name: str) -> ViewPage:
        """Render the view's page of ``name`` (in a worker thread)."""
        generation = self._generation
        with self.db.read() as session:
            project = session.scalar(select(Project).where(Project.normalized_name == name))
            page, allowed = None, frozenset[str]()
            if project is not None and project.deletion_id is None:
                html, json, allowed = render_view(session, policy, project)
                html, json = with_base_url(html, json, self.base_url)
                page = CachedPage.build(project.last_serial, html, json)
        ttl = AGED_PAGE_TTL if policy.changes_unjournaled else float("inf")
        entry = ViewPage(page, allowed, time.monotonic() + ttl)
        with self._lock:
            if generation == self._generation:
                self._pages[(policy.name, name)] = entry
        return entry

    def project_of(self, filename: str) -> str | None:
        """The normalized name of the project that has a file ``filename`` (in a thread)."""
        with self.db.read() as session:
            name = session.scalar(
                select(Project.normalized_name)
                .join(File, File.project_id == Project.id)
                .where(File.filename == filename)
                .limit(1)
            )
        if name is not None:
            with self._lock:
                self._projects[filename] = name
                while len(self._projects) > _FILE_NAMES:
                    self._projects.popitem(last=False)
        return name

    def known_project_of(self, filename: str) -> str | None:
        """``project_of`` from memory only (None: not remembered)."""
        return self._projects.get(filename)

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
