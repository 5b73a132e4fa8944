"""What the JSON API, the OSV API, the pages and the upload check ask of the advisories.

Matching happens here, on read: the advisories of a name are found through the index on
``advisory_packages.normalized_name`` and each version is evaluated with ``packaging``
(:mod:`stockade.advisories.ranges`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from stockade.advisories.models import Advisory, AdvisoryId, AdvisoryPackage, AdvisoryRecord
from stockade.advisories.ranges import affects, fixed_versions
from stockade.index.models import Project

__all__ = [
    "Known",
    "Match",
    "any_imported",
    "documents",
    "find_advisory",
    "format_timestamp",
    "import_stamp",
    "matches_for",
    "matches_for_many",
    "package_advisories",
    "pypi_vulnerabilities",
    "unmatched",
]

# SQL's IN list stays well under every backend's parameter limit.
_CHUNK = 500


def format_timestamp(stamp: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, as OSV writes timestamps."""
    return stamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Known:
    """What pages and answers show of a live advisory (its document is read on demand)."""

    id: int
    osv_id: str
    aliases: tuple[str, ...]
    summary: str | None
    details: str | None
    modified: dt.datetime


@dataclass(frozen=True)
class Match:
    """An advisory that affects one version of one package."""

    advisory: Known
    # The package's ``fixed`` versions in this advisory, lowest first.
    fixed_in: tuple[str, ...]


def any_imported(session: Session) -> bool:
    """Whether advisory data was ever imported (else "no advisories" means "not known")."""
    return bool(session.scalar(select(exists().where(AdvisoryRecord.osv_id.is_not(None)))))


def import_stamp(session: Session) -> tuple[int, dt.datetime | None]:
    """Changes whenever an import adds or changes a record: how many records there are and
    when the newest was written (every added or updated record is stamped with its import)."""
    count, newest = session.execute(
        select(func.count(AdvisoryRecord.osv_id), func.max(AdvisoryRecord.imported_at))
    ).one()
    return int(count), newest


_Row = tuple[list[str], list[list[dict[str, str]]], Known]


def _rows(session: Session, names: Iterable[str]) -> dict[str, list[_Row]]:
    """The live advisories' packages of each normalized name: (versions, ranges, advisory).
    Plain rows, not ORM objects: a batch of 1,000 queries reads thousands of them."""
    wanted = sorted(set(names))
    found: dict[str, list[_Row]] = {n: [] for n in wanted}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        query = (
            select(
                AdvisoryPackage.normalized_name,
                AdvisoryPackage.versions,
                AdvisoryPackage.ranges,
                Advisory.id,
                Advisory.osv_id,
                Advisory.aliases,
                Advisory.summary,
                Advisory.details,
                Advisory.modified,
            )
            .join(Advisory, Advisory.id == AdvisoryPackage.advisory_id)
            .where(AdvisoryPackage.normalized_name.in_(chunk), Advisory.withdrawn.is_(None))
            .order_by(Advisory.osv_id)
        )
        for row in session.execute(query):
            name, versions, ranges, advisory_id, osv_id, aliases, summary, details, modified = row
            known = Known(advisory_id, osv_id, tuple(aliases), summary, details, modified)
            found[name].append((versions, ranges, known))
    return found


def _evaluate(rows: list[_Row], version: str) -> list[Match]:
    matches: dict[int, Match] = {}
    for versions, ranges, advisory in rows:
        if advisory.id in matches:
            continue
        if affects(version, versions, ranges):
            matches[advisory.id] = Match(advisory, tuple(fixed_versions(ranges)))
    return list(matches.values())


def matches_for(session: Session, name: str, version: str) -> list[Match]:
    """The live advisories affecting ``version`` of the package ``name`` (any spelling)."""
    normalized = canonicalize_name(name)
    return _evaluate(_rows(session, [normalized])[normalized], version)


def matches_for_many(session: Session, queries: list[tuple[str, str]]) -> list[list[Match]]:
    """``matches_for`` of each (name, version), in order, reading each name's advisories once."""
    normalized = [canonicalize_name(name) for name, _ in queries]
    rows = _rows(session, normalized)
    return [
        _evaluate(rows[n], version) for n, (_, version) in zip(normalized, queries, strict=True)
    ]


def package_advisories(session: Session, name: str) -> list[Known]:
    """Every live advisory of the package ``name``, whatever the version."""
    normalized = canonicalize_name(name)
    seen: dict[int, Known] = {}
    for _, _, advisory in _rows(session, [normalized])[normalized]:
        seen.setdefault(advisory.id, advisory)
    return list(seen.values())


def documents(session: Session, advisory_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The OSV documents of these advisories, by row id."""
    wanted = sorted(set(advisory_ids))
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = session.execute(
            select(Advisory.id, Advisory.document).where(
                Advisory.id.in_(wanted[start : start + _CHUNK])
            )
        )
        found.update({advisory_id: document for advisory_id, document in rows})
    return found


def find_advisory(session: Session, osv_id: str) -> Advisory | None:
    """The advisory named ``osv_id``, by its own id or any id it was merged from or aliases."""
    advisory = session.scalar(select(Advisory).where(Advisory.osv_id == osv_id))
    if advisory is not None:
        return advisory
    target = session.scalar(select(AdvisoryId.advisory_id).where(AdvisoryId.alias == osv_id))
    return session.get(Advisory, target) if target is not None else None


def pypi_vulnerabilities(matches: list[Match]) -> list[dict[str, Any]]:
    """The ``vulnerabilities`` of PyPI's JSON API for one release."""
    return [
        {
            "aliases": list(m.advisory.aliases),
            "details": m.advisory.details,
            "fixed_in": list(m.fixed_in),
            "id": m.advisory.osv_id,
            "link": f"https://osv.dev/vulnerability/{m.advisory.osv_id}",
            "source": "osv",
            "summary": m.advisory.summary,
            "withdrawn": None,
        }
        for m in matches
    ]


@dataclass(frozen=True)
class Unmatched:
    """A live advisory none of whose packages is a project here."""

    osv_id: str
    names: tuple[str, ...]
    summary: str | None
    modified: dt.datetime


def unmatched(session: Session, *, limit: int = 500) -> tuple[int, list[Unmatched]]:
    """Live advisories that name no project of this index (often a misspelled name): how
    many, and the most recently modified ``limit`` of them."""
    known = select(Project.id).where(Project.normalized_name == AdvisoryPackage.normalized_name)
    matched = select(AdvisoryPackage.advisory_id).where(exists(known))
    query = select(Advisory).where(Advisory.withdrawn.is_(None), Advisory.id.not_in(matched))
    advisories = list(session.scalars(query.order_by(Advisory.modified.desc())))
    shown = advisories[:limit]
    names: dict[int, set[str]] = {a.id: set() for a in shown}
    ids = list(names)
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(AdvisoryPackage.advisory_id, AdvisoryPackage.normalized_name).where(
                AdvisoryPackage.advisory_id.in_(ids[start : start + _CHUNK])
            )
        )
        for advisory_id, name in rows:
            names[advisory_id].add(name)
    return len(advisories), [
        Unmatched(a.osv_id, tuple(sorted(names[a.id])), a.summary, a.modified) for a in shown
    ]
