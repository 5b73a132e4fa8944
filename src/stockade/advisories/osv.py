"""One advisory document, OSV JSON or PyPA advisory-database YAML (the same schema), read and
checked: its id, timestamps, aliases and the PyPI packages it affects. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml
from packaging.utils import canonicalize_name

__all__ = [
    "AdvisoryError",
    "AffectedPackage",
    "Record",
    "affected_packages",
    "parse_document",
    "parse_timestamp",
]

# OSV ids: a database prefix and an identifier (PYSEC-2021-1, GHSA-xxxx-xxxx-xxxx, CVE-…).
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,254}$")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_RANGE_EVENTS = ("introduced", "fixed", "last_affected", "limit")
ECOSYSTEM = "PyPI"


class AdvisoryError(ValueError):
    """A document that is not a usable OSV advisory; the text says why, in one line."""


@dataclass(frozen=True)
class AffectedPackage:
    """One PyPI package of an advisory: exact versions and ECOSYSTEM ranges."""

    normalized_name: str
    versions: tuple[str, ...]
    ranges: tuple[tuple[tuple[str, str], ...], ...]

    def ranges_json(self) -> list[list[dict[str, str]]]:
        return [[{kind: value} for kind, value in events] for events in self.ranges]


@dataclass(frozen=True)
class Record:
    """An advisory document as read: what the importer compares and stores."""

    osv_id: str
    modified: dt.datetime
    published: dt.datetime | None
    withdrawn: dt.datetime | None
    aliases: tuple[str, ...]
    summary: str | None
    details: str | None
    packages: tuple[AffectedPackage, ...]
    document: dict[str, Any]
    digest: str


def parse_timestamp(value: Any, field: str) -> dt.datetime:
    """An RFC 3339 timestamp (YAML may already have made it a datetime), in UTC."""
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, str):
        text = _FRACTION.sub(r"\1", value.strip())
        try:
            stamp = dt.datetime.fromisoformat(text)
        except ValueError:
            raise AdvisoryError(f"{field} is not an RFC 3339 timestamp: {value!r}") from None
    else:
        raise AdvisoryError(f"{field} must be an RFC 3339 timestamp")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC)


def _jsonable(value: Any) -> Any:
    """The YAML tree as JSON values: timestamps become RFC 3339 strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def load(data: bytes, name: str) -> dict[str, Any]:
    """The document in ``data``: JSON for ``.json``, else YAML (a superset of JSON)."""
    try:
        if name.lower().endswith(".json"):
            tree = json.loads(data)
        else:
            tree = yaml.load(data, Loader=yaml.CSafeLoader)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AdvisoryError(f"not valid JSON or YAML: {first}") from None
    if not isinstance(tree, dict):
        raise AdvisoryError("an advisory must be a mapping (an OSV object)")
    return _jsonable(tree)  # type: ignore[no-any-return]


def _text(doc: dict[str, Any], field: str) -> str | None:
    value = doc.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AdvisoryError(f"{field} must be a string")
    return value


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AdvisoryError(f"{field} must be a list of strings")
    return list(value)


def _package(affected: Any) -> AffectedPackage | None:
    """The PyPI package of one ``affected`` entry, or None for another ecosystem."""
    if not isinstance(affected, dict):
        raise AdvisoryError("each affected entry must be an object")
    package = affected.get("package") or {}
    if not isinstance(package, dict):
        raise AdvisoryError("affected[].package must be an object")
    if package.get("ecosystem") != ECOSYSTEM:
        return None
    name = package.get("name")
    if not isinstance(name, str) or not name.strip():
        raise AdvisoryError("affected[].package.name must be a non-empty string")
    versions = tuple(_strings(affected.get("versions"), "affected[].versions"))
    ranges: list[tuple[tuple[str, str], ...]] = []
    raw_ranges = affected.get("ranges") or []
    if not isinstance(raw_ranges, list):
        raise AdvisoryError("affected[].ranges must be a list")
    for one in raw_ranges:
        if not isinstance(one, dict) or not isinstance(one.get("events"), list):
            raise AdvisoryError("each range must be an object with a list of events")
        if one.get("type") != "ECOSYSTEM":
            continue
        events: list[tuple[str, str]] = []
        for event in one["events"]:
            if not isinstance(event, dict):
                raise AdvisoryError("each range event must be an object")
            for kind, value in event.items():
                if kind in _RANGE_EVENTS:
                    events.append((kind, str(value)))
        ranges.append(tuple(events))
    return AffectedPackage(canonicalize_name(name), versions, tuple(ranges))


def affected_packages(doc: dict[str, Any]) -> tuple[AffectedPackage, ...]:
    """The PyPI packages of a document's ``affected`` list. Raises AdvisoryError."""
    affected = doc.get("affected") or []
    if not isinstance(affected, list):
        raise AdvisoryError("affected must be a list")
    return tuple(p for p in (_package(a) for a in affected) if p is not None)


def parse_document(doc: dict[str, Any]) -> Record:
    """Check one OSV document and read what matching needs. Raises AdvisoryError."""
    osv_id = doc.get("id")
    if not isinstance(osv_id, str) or not _ID.match(osv_id):
        raise AdvisoryError(f"id must be an OSV identifier, got {osv_id!r}")
    if "modified" not in doc:
        raise AdvisoryError(f"{osv_id}: modified is required")
    modified = parse_timestamp(doc["modified"], f"{osv_id}: modified")
    published = (
        parse_timestamp(doc["published"], f"{osv_id}: published")
        if doc.get("published") is not None
        else None
    )
    withdrawn = (
        parse_timestamp(doc["withdrawn"], f"{osv_id}: withdrawn")
        if doc.get("withdrawn") is not None
        else None
    )
    aliases = _strings(doc.get("aliases"), f"{osv_id}: aliases")
    bad = [a for a in aliases if not _ID.match(a)]
    if bad:
        raise AdvisoryError(f"{osv_id}: alias {bad[0]!r} is not an OSV identifier")
    try:
        packages = affected_packages(doc)
        summary, details = _text(doc, "summary"), _text(doc, "details")
    except AdvisoryError as exc:
        raise AdvisoryError(f"{osv_id}: {exc}") from None
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Record(
        osv_id=osv_id,
        modified=modified,
        published=published,
        withdrawn=withdrawn,
        aliases=tuple(dict.fromkeys(a for a in aliases if a != osv_id)),
        summary=summary,
        details=details,
        packages=packages,
        document=doc,
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
    )
