"""Importing advisories: idempotent, updated in place by ``modified``, merged by alias.

Each document is stored as an :class:`AdvisoryRecord` under its own id. Records that share an
id or an alias (a PYSEC advisory and the GHSA and CVE it names) form one :class:`Advisory`,
rebuilt from its records whenever one of them changes: the primary record (live before
withdrawn, then PYSEC, then GHSA, then the lowest id) gives the id, summary and details; the
aliases are every id and alias of every record; the affected packages those of every live
record. An advisory whose records are all withdrawn matches nothing.

The same input imported again changes nothing; an older ``modified`` never replaces a newer
one. Documents are read and checked before the write transaction, and written in batches.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.utils import canonicalize_name
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.advisories.models import (
    Advisory,
    AdvisoryId,
    AdvisoryNotice,
    AdvisoryPackage,
    AdvisoryRecord,
)
from stockade.advisories.notices import NoticeOutbox, notify_matches
from stockade.advisories.osv import (
    ECOSYSTEM,
    AdvisoryError,
    Record,
    affected_packages,
    load,
    parse_document,
    parse_timestamp,
)
from stockade.advisories.queries import format_timestamp
from stockade.advisories.ranges import canonical_versions
from stockade.advisories.sources import Document, SourceError
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.events.services import Origin

__all__ = ["ImportResult", "apply_record", "import_documents"]

Outcome = Literal["added", "updated", "unchanged"]
_PREFERENCE = ("PYSEC-", "GHSA-")
BATCH = 500
_CHUNK = 500


@dataclass
class ImportResult:
    """What one import did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    # Of the added and updated: records that say they are withdrawn.
    withdrawn: int = 0
    # "where: why", one per document that could not be read.
    invalid: list[str] = field(default_factory=list)
    # (advisory id, project name) of each new match told to the project's owners.
    notified: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        """Count another batch's changes in this result."""
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.withdrawn += other.withdrawn
        self.invalid += other.invalid
        self.notified += other.notified

    @property
    def changed(self) -> int:
        return self.added + self.updated

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.withdrawn} withdrawn, {len(self.invalid)} unreadable; "
            f"{len(self.notified)} new match(es) told to owners"
        )


@dataclass(frozen=True)
class _Part:
    """One record of an advisory, stored or about to be."""

    osv_id: str
    modified: dt.datetime
    withdrawn: dt.datetime | None
    document: dict[str, Any]

    @property
    def rank(self) -> tuple[bool, int, str]:
        """Primary first: live before withdrawn, then PYSEC, then GHSA, then by id."""
        prefix = next((i for i, p in enumerate(_PREFERENCE) if self.osv_id.startswith(p)), 99)
        return (self.withdrawn is not None, prefix, self.osv_id)

    def names(self) -> list[str]:
        aliases = self.document.get("aliases") or []
        return [self.osv_id, *(a for a in aliases if isinstance(a, str))]


@dataclass(frozen=True)
class _Composed:
    """An advisory as its records make it: its row, its names, its packages' rows."""

    fields: dict[str, Any]
    names: list[str]
    packages: list[dict[str, Any]]


def _normalized_package(affected: Any) -> Any:
    """A PyPI ``affected`` entry with its package name normalized, as clients compare it
    (pip-audit reads the fixed versions only of an entry named exactly as it asked)."""
    package = affected.get("package") if isinstance(affected, dict) else None
    if not isinstance(package, dict) or package.get("ecosystem") != ECOSYSTEM:
        return affected
    name = package.get("name")
    if not isinstance(name, str):
        return affected
    return {**affected, "package": {**package, "name": canonicalize_name(name)}}


def _first_text(parts: list[_Part], key: str) -> str | None:
    """The primary record's text, else the first other record's that has one."""
    for part in parts:
        value = part.document.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _compose(parts: list[_Part]) -> _Composed:
    """The advisory its records make: the primary's document with every record's aliases and
    every live record's affected packages; withdrawn only when every record is."""
    parts = sorted(parts, key=lambda p: p.rank)
    primary = parts[0]
    live = [p for p in parts if p.withdrawn is None]
    names = list(dict.fromkeys(n for p in parts for n in p.names()))
    document = copy.deepcopy(primary.document)
    document["aliases"] = sorted(n for n in names if n != primary.osv_id)
    modified = max(p.modified for p in parts)
    document["modified"] = format_timestamp(modified)
    affected: list[Any] = list(document.get("affected") or [])
    seen = {json.dumps(a, sort_keys=True) for a in affected}
    for other in live:
        if other is primary:
            continue
        for entry in other.document.get("affected") or []:
            key = json.dumps(entry, sort_keys=True)
            if key not in seen:
                seen.add(key)
                affected.append(entry)
    if affected:
        document["affected"] = [_normalized_package(a) for a in affected]
    published = [
        parse_timestamp(p.document["published"], "published")
        for p in parts
        if p.document.get("published")
    ]
    withdrawn = [p.withdrawn for p in parts if p.withdrawn is not None]
    packages: dict[str, dict[str, Any]] = {}
    for part in live:
        for package in affected_packages(part.document):
            row = {
                "normalized_name": package.normalized_name,
                "versions": canonical_versions(package.versions),
                "ranges": package.ranges_json(),
            }
            packages.setdefault(json.dumps(row, sort_keys=True), row)
    fields = {
        "osv_id": primary.osv_id,
        "aliases": document["aliases"],
        "summary": _first_text(parts, "summary"),
        "details": _first_text(parts, "details"),
        "published": min(published) if published else None,
        "modified": modified,
        "withdrawn": None if live else max(withdrawn),
        "document": document,
    }
    return _Composed(fields, names, list(packages.values()))


def _store_names_and_packages(session: Session, rows: list[tuple[int, _Composed]]) -> None:
    """The ids and packages rows of freshly composed advisories."""
    ids = [{"alias": n, "advisory_id": a} for a, c in rows for n in c.names]
    packages = [{**p, "advisory_id": a} for a, c in rows for p in c.packages]
    if ids:
        session.execute(insert(AdvisoryId), ids)
    if packages:
        session.execute(insert(AdvisoryPackage), packages)


def _rebuild(session: Session, advisory_id: int) -> None:
    """The advisory as its records say now: id, texts, aliases, document and packages."""
    rows = session.execute(
        select(
            AdvisoryRecord.osv_id,
            AdvisoryRecord.modified,
            AdvisoryRecord.withdrawn,
            AdvisoryRecord.document,
        ).where(AdvisoryRecord.advisory_id == advisory_id)
    ).all()
    composed = _compose([_Part(*row) for row in rows])
    session.execute(update(Advisory).where(Advisory.id == advisory_id).values(**composed.fields))
    session.execute(delete(AdvisoryId).where(AdvisoryId.advisory_id == advisory_id))
    session.execute(delete(AdvisoryPackage).where(AdvisoryPackage.advisory_id == advisory_id))
    _store_names_and_packages(session, [(advisory_id, composed)])


def _merge_into(session: Session, target: int, others: set[int]) -> None:
    """Move the records (and the owners' notices) of ``others`` to ``target``, then drop them."""
    if not others:
        return
    session.execute(
        update(AdvisoryRecord)
        .where(AdvisoryRecord.advisory_id.in_(others))
        .values(advisory_id=target)
    )
    told = set(
        session.scalars(
            select(AdvisoryNotice.project_id).where(AdvisoryNotice.advisory_id == target)
        )
    )
    moved = session.scalars(
        select(AdvisoryNotice.project_id).where(AdvisoryNotice.advisory_id.in_(others))
    ).all()
    new = [{"advisory_id": target, "project_id": p} for p in set(moved) - told]
    if new:
        session.execute(insert(AdvisoryNotice), new)
    session.execute(delete(Advisory).where(Advisory.id.in_(others)))


def _record_row(record: Record, advisory_id: int) -> dict[str, Any]:
    return {
        "osv_id": record.osv_id,
        "advisory_id": advisory_id,
        "modified": record.modified,
        "withdrawn": record.withdrawn,
        "digest": record.digest,
        "document": record.document,
        "imported_at": utcnow(),
    }


def _part(record: Record) -> _Part:
    return _Part(record.osv_id, record.modified, record.withdrawn, record.document)


def apply_record(session: Session, record: Record) -> tuple[Outcome, int | None]:
    """Store one record and rebuild its advisory; the outcome and the advisory's row id (None
    when nothing changed). A record no newer than the stored one changes nothing."""
    stored = session.execute(
        select(AdvisoryRecord.modified, AdvisoryRecord.advisory_id).where(
            AdvisoryRecord.osv_id == record.osv_id
        )
    ).one_or_none()
    if stored is not None and record.modified <= stored.modified:
        return "unchanged", None
    keys = {record.osv_id, *record.aliases}
    groups = set(session.scalars(select(AdvisoryId.advisory_id).where(AdvisoryId.alias.in_(keys))))
    if stored is not None:
        groups.add(stored.advisory_id)
    if groups:
        target = min(groups)
        _merge_into(session, target, groups - {target})
    else:
        fields = _compose([_part(record)]).fields
        target = session.scalars(insert(Advisory).returning(Advisory.id), [fields]).one()
    row = _record_row(record, target)
    if stored is None:
        session.execute(insert(AdvisoryRecord), [row])
    else:
        session.execute(
            update(AdvisoryRecord).where(AdvisoryRecord.osv_id == record.osv_id).values(**row)
        )
    _rebuild(session, target)
    return ("added" if stored is None else "updated"), target


def _apply_batch(session: Session, records: list[Record], result: ImportResult) -> set[int]:
    """Apply a batch; the row ids of the advisories it changed.

    Most records of an import are new and share no id or alias with any other: those are
    written together, a few statements for the whole batch. The others (updates, merges) go
    one by one through :func:`apply_record`.
    """
    newest: dict[str, Record] = {}
    for record in records:
        if record.osv_id not in newest or record.modified > newest[record.osv_id].modified:
            newest[record.osv_id] = record
    result.unchanged += len(records) - len(newest)
    ids = list(newest)
    stored: dict[str, dt.datetime] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = session.execute(
            select(AdvisoryRecord.osv_id, AdvisoryRecord.modified).where(
                AdvisoryRecord.osv_id.in_(chunk)
            )
        )
        stored.update({osv_id: modified for osv_id, modified in rows})
    changed = [
        r for r in newest.values() if r.osv_id not in stored or r.modified > stored[r.osv_id]
    ]
    result.unchanged += len(newest) - len(changed)
    keys = {r.osv_id: {r.osv_id, *r.aliases} for r in changed}
    every = sorted({k for ks in keys.values() for k in ks})
    known: set[str] = set()
    for start in range(0, len(every), _CHUNK):
        chunk = every[start : start + _CHUNK]
        known.update(session.scalars(select(AdvisoryId.alias).where(AdvisoryId.alias.in_(chunk))))
    uses = Counter(k for ks in keys.values() for k in ks)
    alone = [
        r
        for r in changed
        if r.osv_id not in stored
        and not keys[r.osv_id] & known
        and all(uses[k] == 1 for k in keys[r.osv_id])
    ]
    touched: set[int] = set()
    if alone:
        composed = [_compose([_part(r)]) for r in alone]
        advisory_ids = session.scalars(
            insert(Advisory).returning(Advisory.id, sort_by_parameter_order=True),
            [c.fields for c in composed],
        ).all()
        session.execute(
            insert(AdvisoryRecord),
            [_record_row(r, a) for r, a in zip(alone, advisory_ids, strict=True)],
        )
        _store_names_and_packages(session, list(zip(advisory_ids, composed, strict=True)))
        result.added += len(alone)
        result.withdrawn += sum(r.withdrawn is not None for r in alone)
        touched.update(advisory_ids)
    done = {r.osv_id for r in alone}
    for record in changed:
        if record.osv_id in done:
            continue
        outcome, advisory_id = apply_record(session, record)
        if outcome == "added":
            result.added += 1
        elif outcome == "updated":
            result.updated += 1
        if advisory_id is not None:
            touched.add(advisory_id)
            result.withdrawn += record.withdrawn is not None
    return touched


def _read(document: Document) -> Record:
    try:
        return parse_document(load(document.read(), document.label))
    except OSError as exc:
        raise AdvisoryError(exc.strerror or str(exc)) from exc


def import_documents(
    db: Database,
    documents: Sequence[Document],
    *,
    origin: Origin,
    outbox: NoticeOutbox,
    progress: Callable[[int], None] | None = None,
    batch: int = BATCH,
) -> ImportResult:
    """Import every document, ``batch`` per write transaction; the owners of projects newly
    matched are queued in ``outbox`` (deliver it after this returns)."""
    result = ImportResult()
    done = 0
    for start in range(0, len(documents), batch):
        records: list[Record] = []
        for document in documents[start : start + batch]:
            try:
                records.append(_read(document))
            except (AdvisoryError, SourceError) as exc:
                result.invalid.append(f"{document.label}: {exc}")
        queued = len(outbox.messages)
        for attempt in range(3):
            counted = ImportResult()
            try:
                with db.write() as session:
                    touched = _apply_batch(session, records, counted)
                    session.flush()
                    counted.notified = notify_matches(
                        session, touched, origin=origin, outbox=outbox
                    )
            except IntegrityError:
                # Another import wrote some of these records first: read them again.
                del outbox.messages[queued:]
                if attempt == 2:
                    raise
                continue
            result.add(counted)
            break
        done += len(documents[start : start + batch])
        if progress is not None:
            progress(done)
    return result
