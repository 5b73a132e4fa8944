"""What the public pages show, read straight from the index's tables.

Search is one SQL query per page of results, ranked in the database: exact name first, then
names starting with the query (shortest first), then names containing it, then projects whose
summary contains it. Name conditions work on ``normalized_name`` (unique, so indexed); the prefix
test is also written as a range so both SQLite and PostgreSQL can answer it from that index.
Substring matches need a scan, so queries shorter than ``MIN_SUBSTRING`` characters only match
by exact name and prefix. Pages are fetched with ``LIMIT per_page + 1`` (no ``COUNT``): the
extra row only says whether there is a next page.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from stockade.index.models import Project, Release
from stockade.index.state import version_key

__all__ = [
    "MAX_PAGE",
    "MAX_QUERY",
    "MIN_SUBSTRING",
    "ProjectSummary",
    "SearchResults",
    "is_prerelease",
    "latest_release",
    "project_is_listed",
    "recent_projects",
    "search_projects",
]

MAX_QUERY = 100
MIN_SUBSTRING = 2
MAX_PAGE = 500
PER_PAGE = 20

R = TypeVar("R", bound=Release)


@dataclass(frozen=True)
class ProjectSummary:
    """One project in a list: its name, latest version, summary and last change."""

    name: str
    normalized_name: str
    version: str | None
    summary: str | None
    updated: dt.datetime | None


@dataclass(frozen=True)
class SearchResults:
    """One page of search results."""

    query: str
    page: int
    per_page: int
    projects: list[ProjectSummary]
    has_next: bool
    # Why nothing was searched ("" when the search ran): empty or too-short query.
    message: str = ""


def is_prerelease(version: str) -> bool:
    """True for PEP 440 pre- and dev-releases (unparsable versions are not)."""
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return False


def latest_release(releases: Sequence[R]) -> R:
    """PyPI's "latest": the newest non-yanked final release, else the newest non-yanked one,
    else the newest of all."""
    live = [r for r in releases if not r.yanked]
    finals = [r for r in live if not is_prerelease(r.version)]
    return max(finals or live or releases, key=lambda r: version_key(r.version))


def _summaries(session: Session, projects: Iterable[Project]) -> list[ProjectSummary]:
    """Each project with its latest release's version and summary (one query for all)."""
    projects = list(projects)
    by_project: dict[int, list[Release]] = {p.id: [] for p in projects}
    if projects:
        for release in session.scalars(
            select(Release).where(
                Release.project_id.in_(list(by_project)), Release.deletion_id.is_(None)
            )
        ):
            by_project[release.project_id].append(release)
    out = []
    for p in projects:
        releases = by_project[p.id]
        latest = latest_release(releases) if releases else None
        updated = max((r.created_at for r in releases), default=None)
        out.append(
            ProjectSummary(
                name=p.name,
                normalized_name=p.normalized_name,
                version=latest.version if latest else None,
                summary=latest.summary if latest else None,
                updated=updated,
            )
        )
    return out


def _listed() -> ColumnElement[bool]:
    """Projects the public pages show: not deleted, not quarantined, with at least one release
    that is not deleted."""
    has_release = exists().where(Release.project_id == Project.id, Release.deletion_id.is_(None))
    return and_(Project.deletion_id.is_(None), Project.status != "quarantined", has_release)


def project_is_listed(session: Session, normalized_name: str) -> bool:
    """Whether the public pages show this project."""
    found = session.scalar(
        select(Project.id).where(Project.normalized_name == normalized_name, _listed())
    )
    return found is not None


def recent_projects(session: Session, limit: int = 20) -> list[ProjectSummary]:
    """The most recently changed projects (newest journal serial first)."""
    projects = session.scalars(
        select(Project).where(_listed()).order_by(Project.last_serial.desc()).limit(limit)
    ).all()
    return _summaries(session, projects)


def normalize_query(raw: str) -> str:
    """The query as typed, trimmed, with runs of whitespace made one space, at most
    ``MAX_QUERY`` characters."""
    return re.sub(r"\s+", " ", raw).strip()[:MAX_QUERY]


def _prefix_range(prefix: str) -> ColumnElement[bool]:
    """``normalized_name`` in [prefix, next string after all strings with that prefix)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(Project.normalized_name >= prefix, Project.normalized_name < upper)


def search_projects(
    session: Session, raw_query: str, page: int = 1, per_page: int = PER_PAGE
) -> SearchResults:
    """Projects matching ``raw_query`` by name or summary, best matches first."""
    query = normalize_query(raw_query)
    page = min(max(page, 1), MAX_PAGE)
    if not query:
        return SearchResults(query, page, per_page, [], False, "Enter a project name or a word.")
    # "Zope Interface" finds zope-interface and zope.interface: the name query is normalized.
    name_q = canonicalize_name(query.replace(" ", "-"))
    exact = Project.normalized_name == name_q
    prefix = and_(
        _prefix_range(name_q), Project.normalized_name.startswith(name_q, autoescape=True)
    )
    # An exact match is also a prefix match: the range alone selects both from the index.
    conditions: list[ColumnElement[bool]] = [prefix]
    ranks: list[tuple[ColumnElement[bool], int]] = [(exact, 0), (prefix, 1)]
    message = ""
    if len(query) >= MIN_SUBSTRING:
        in_name = Project.normalized_name.contains(name_q, autoescape=True)
        in_summary = exists().where(
            Release.project_id == Project.id,
            Release.deletion_id.is_(None),
            Release.summary.icontains(query, autoescape=True),
        )
        conditions += [in_name, in_summary]
        ranks.append((in_name, 2))
    else:
        message = (
            f"Showing names that start with “{query}”: search words need at least "
            f"{MIN_SUBSTRING} characters to match inside names and summaries."
        )
    rank = case(*ranks, else_=literal(3))
    rows = session.scalars(
        select(Project)
        .where(_listed(), or_(*conditions))
        .order_by(rank, func.length(Project.normalized_name), Project.normalized_name)
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    ).all()
    has_next = len(rows) > per_page
    return SearchResults(
        query, page, per_page, _summaries(session, rows[:per_page]), has_next, message
    )
