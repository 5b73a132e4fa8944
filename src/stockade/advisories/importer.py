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
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.utils import canonicalize_name
from sqlalchemy import delete, insert, select, update
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
    load,
    parse_document,
    parse_timestamp,
)
from stockade.advisories.queries import format_timestamp
from stockade.advisories.sources import Document, SourceError
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.events.services import Origin

__all__ = ["ImportResult", "apply_record", "import_documents"]

Outcome = Literal["added", "updated", "unchanged"]
_PREFERENCE = ("PYSEC-", "GHSA-")
BATCH = 500


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

    @property
    def changed(self) -> int:
        return self.added + self.updated

    def summary(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.withdrawn} withdrawn, {len(self.invalid)} unreadable; "
            f"{len(self.notified)} new match(es) told to owners"
        )


def _rank(record: AdvisoryRecord) -> tuple[int, int, str]:
    prefix = next((i for i, p in enumerate(_PREFERENCE) if record.osv_id.startswith(p)), 99)
    return (record.withdrawn is not None, prefix, record.osv_id)


def _record_aliases(record: AdvisoryRecord) -> list[str]:
    aliases = record.document.get("aliases") or []
    return [a for a in aliases if isinstance(a, str)]


def _first_text(records: list[AdvisoryRecord], key: str) -> str | None:
    """The primary record's text, else the first other record's that has one."""
    for record in records:
        value = record.document.get(key)
        if isinstance(value, str) and value:
            return value
    return None


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


def _rebuild(session: Session, advisory: Advisory) -> None:
    """The advisory as its records say now: id, texts, aliases, document and packages."""
    records = sorted(
        session.scalars(select(AdvisoryRecord).where(AdvisoryRecord.advisory_id == advisory.id)),
        key=_rank,
    )
    primary = records[0]
    live = [r for r in records if r.withdrawn is None]
    names = dict.fromkeys(n for r in records for n in (r.osv_id, *_record_aliases(r)))
    document = copy.deepcopy(primary.document)
    document["aliases"] = sorted(n for n in names if n != primary.osv_id)
    modified = max(r.modified for r in records)
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

    advisory.osv_id = primary.osv_id
    advisory.aliases = document["aliases"]
    advisory.summary = _first_text(records, "summary")
    advisory.details = _first_text(records, "details")
    published = [
        parse_timestamp(r.document["published"], "published")
        for r in records
        if r.document.get("published")
    ]
    advisory.published = min(published) if published else None
    advisory.modified = modified
    withdrawn = [r.withdrawn for r in records if r.withdrawn is not None]
    advisory.withdrawn = None if live else max(withdrawn)
    advisory.document = document

    session.execute(delete(AdvisoryId).where(AdvisoryId.advisory_id == advisory.id))
    session.execute(insert(AdvisoryId), [{"alias": n, "advisory_id": advisory.id} for n in names])
    session.execute(delete(AdvisoryPackage).where(AdvisoryPackage.advisory_id == advisory.id))
    packages: dict[str, dict[str, Any]] = {}
    for record in live:
        for package in parse_document(record.document).packages:
            row = {
                "advisory_id": advisory.id,
                "normalized_name": package.normalized_name,
                "versions": list(package.versions),
                "ranges": package.ranges_json(),
            }
            packages.setdefault(json.dumps(row, sort_keys=True), row)
    if packages:
        session.execute(insert(AdvisoryPackage), list(packages.values()))


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
    for project_id in set(moved) - told:
        session.add(AdvisoryNotice(advisory_id=target, project_id=project_id))
    session.flush()
    session.execute(delete(Advisory).where(Advisory.id.in_(others)))


def apply_record(session: Session, record: Record) -> tuple[Outcome, int | None]:
    """Store one record and rebuild its advisory; the outcome and the advisory's row id (None
    when nothing changed). A record no newer than the stored one changes nothing."""
    stored = session.get(AdvisoryRecord, record.osv_id)
    if stored is not None and record.modified <= stored.modified:
        return "unchanged", None
    keys = {record.osv_id, *record.aliases}
    groups = set(session.scalars(select(AdvisoryId.advisory_id).where(AdvisoryId.alias.in_(keys))))
    if stored is not None:
        groups.add(stored.advisory_id)
    if groups:
        target = min(groups)
        _merge_into(session, target, groups - {target})
        advisory = session.get(Advisory, target)
        assert advisory is not None  # its id came from a row that references it
    else:
        advisory = Advisory(
            osv_id=record.osv_id, modified=record.modified, document=record.document
        )
        session.add(advisory)
        session.flush()
    outcome: Outcome = "added" if stored is None else "updated"
    if stored is None:
        stored = AdvisoryRecord(osv_id=record.osv_id)
        session.add(stored)
    stored.advisory_id = advisory.id
    stored.modified = record.modified
    stored.withdrawn = record.withdrawn
    stored.digest = record.digest
    stored.document = record.document
    stored.imported_at = utcnow()
    session.flush()
    _rebuild(session, advisory)
    return outcome, advisory.id


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
        with db.write() as session:
            touched: set[int] = set()
            for record in records:
                outcome, advisory_id = apply_record(session, record)
                if outcome == "added":
                    result.added += 1
                elif outcome == "updated":
                    result.updated += 1
                else:
                    result.unchanged += 1
                if advisory_id is not None:
                    touched.add(advisory_id)
                    result.withdrawn += record.withdrawn is not None
            session.flush()
            result.notified += notify_matches(session, touched, origin=origin, outbox=outbox)
        done += len(documents[start : start + batch])
        if progress is not None:
            progress(done)
    return result
