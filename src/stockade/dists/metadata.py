"""Validate core metadata (METADATA / PKG-INFO) the way PyPI does.

Validation is :mod:`packaging.metadata` plus the extra rules PyPI layers on top
(Warehouse ``forklift/metadata.py``), with the leniency real uploads need:

* every Metadata-Version PyPI has accepted (1.0 to 2.5) is accepted, including
  2.0, which was never a real spec and which ``packaging`` does not know;
* fields used before the Metadata-Version that introduced them (``License-File``
  in 2.1 files written by setuptools, ``Classifier`` in 1.0 files) are accepted;
* values of ``UNKNOWN`` (what distutils wrote for missing fields) count as absent;
* fields that no spec defines are ignored, as PyPI's upload form ignores them;
* in pre-PEP 508 metadata (up to 2.0), PEP 345 requirements such as
  ``pytz (>=2011k)`` are accepted.

Every problem found is reported, in one line.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from packaging.metadata import InvalidMetadata, Metadata, RawMetadata, parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from stockade.dists.errors import DistError

__all__ = ["ACCEPTED_METADATA_VERSIONS", "ValidatedMetadata", "validate_metadata"]

ACCEPTED_METADATA_VERSIONS = ("1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5")
# Metadata written before PEP 508 requirement strings were required (PEP 566, 2.1).
_PRE_PEP508_VERSIONS = frozenset({"1.0", "1.1", "1.2", "2.0"})
_CORE_METADATA_HELP = (
    "See https://packaging.python.org/specifications/core-metadata for more information."
)
_REQUIRED_FIELDS = ("metadata-version", "name", "version")
_SUMMARY_MAX = 512
_PROJECT_URL_LABEL_MAX = 32

# PEP 345: "Name (>=1.0, <2)" with any version text, optionally followed by a marker.
_LEGACY_VERSION_CLAUSE = r"(?:~=|===|==|!=|<=|>=|<|>)?\s*[A-Za-z0-9_.*+!-]+"
_LEGACY_REQUIREMENT_RE = re.compile(
    r"\s*[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
    r"(?:\s*\[\s*[A-Za-z0-9._,\s-]*\])?"
    rf"(?:\s*\(\s*{_LEGACY_VERSION_CLAUSE}(?:\s*,\s*{_LEGACY_VERSION_CLAUSE})*\s*\))?"
    r"\s*(?:;.*)?"
)

_EMAIL_NAMES = {
    "requires_dist": "requires-dist",
    "provides_dist": "provides-dist",
    "obsoletes_dist": "obsoletes-dist",
}


@dataclass(frozen=True)
class ValidatedMetadata:
    """Core metadata that passed validation."""

    metadata_version: str
    name: str  # as written
    version: str  # as written
    parsed_version: Version
    requires_python: str | None
    summary: str | None
    license_files: tuple[str, ...]
    fields: dict[str, Any]  # JSON-serialisable, keyed like PyPI's JSON API "info"


@functools.cache
def _validation_version() -> str:
    """The newest Metadata-Version the installed ``packaging`` validates."""
    for candidate in ("2.6", "2.5", "2.4", "2.3", "2.2", "2.1"):
        probe = cast(RawMetadata, {"metadata_version": candidate, "name": "x", "version": "1"})
        try:
            Metadata.from_raw(probe, validate=True)
        except (ExceptionGroup, InvalidMetadata):
            continue
        return candidate
    return "2.1"  # pragma: no cover - every supported packaging knows 2.1


@functools.cache
def _packaging_knows(field: str) -> bool:
    """Whether ``packaging`` parses the email header *field* (lowercase) at all."""
    if field in _REQUIRED_FIELDS:
        return True
    _raw, unparsed = parse_email(f"Metadata-Version: 2.1\nName: x\nVersion: 1\n{field}: a, b\n")
    return field not in unparsed


def _first_line(exc: Exception) -> str:
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def _is_valid_url(url: str) -> bool:
    if any(char.isspace() for char in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc or parts.path)


def _drop_unknown_values(raw: dict[str, Any]) -> None:
    """distutils wrote ``UNKNOWN`` for missing values; PyPI treats them as absent."""
    for key in list(raw):
        if key in ("metadata_version", "name", "version"):
            continue
        value = raw[key]
        if isinstance(value, str) and value.strip() == "UNKNOWN":
            del raw[key]
        elif isinstance(value, list):
            kept = [item for item in value if not (isinstance(item, str) and item == "UNKNOWN")]
            if kept:
                raw[key] = kept
            else:
                del raw[key]


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, message: str) -> None:
        item = (field, message.rstrip(". "))
        if item not in self.items:
            self.items.append(item)

    def raise_if_any(self, source: str) -> None:
        if not self.items:
            return
        # Like PyPI, the fields everything else depends on come first.
        order = {field: index for index, field in enumerate(_REQUIRED_FIELDS)}
        ordered = sorted(self.items, key=lambda item: order.get(item[0], len(order)))
        joined = "; ".join(message for _field, message in ordered)
        raise DistError(
            f"Invalid distribution metadata in {source}: {joined}. {_CORE_METADATA_HELP}"
        )


def _check_requirements(raw: dict[str, Any], legacy: bool, problems: _Problems) -> tuple[str, ...]:
    """Check *-Dist fields; return the Requires-Dist entries accepted as PEP 345 legacy."""
    legacy_ok: list[str] = []
    for field, email_name in _EMAIL_NAMES.items():
        for value in raw.get(field) or []:
            try:
                requirement = Requirement(value)
            except InvalidRequirement as exc:
                if legacy and _LEGACY_REQUIREMENT_RE.fullmatch(value):
                    legacy_ok.append(value)
                elif field != "requires_dist":  # packaging reports Requires-Dist itself
                    problems.add(email_name, f"{value!r} is invalid: {_first_line(exc)}")
                continue
            if requirement.url is not None:
                problems.add(email_name, f"Can't have direct dependency: {value!r}")
    return tuple(legacy_ok)


def _check_pypi_rules(raw: dict[str, Any], problems: _Problems) -> None:
    """The checks PyPI adds on top of packaging.metadata."""
    version = raw.get("version")
    if isinstance(version, str):
        try:
            if Version(version).local is not None:
                problems.add("version", f"The use of local versions in {version!r} is not allowed")
        except InvalidVersion:
            pass  # packaging reports it
    summary = raw.get("summary")
    if isinstance(summary, str) and len(summary) > _SUMMARY_MAX:
        problems.add("summary", f"'summary' field must be {_SUMMARY_MAX} characters or less")
    for field, email_name in (("home_page", "home-page"), ("download_url", "download-url")):
        url = raw.get(field)
        if isinstance(url, str) and not _is_valid_url(url):
            problems.add(email_name, f"{url!r} is not a valid url")
    project_urls = raw.get("project_urls")
    for label, url in (project_urls or {}).items():
        if not label:
            problems.add("project-url", "Must have a label")
        elif len(label) > _PROJECT_URL_LABEL_MAX:
            problems.add(
                "project-url", f"{label!r} must be {_PROJECT_URL_LABEL_MAX} characters or less"
            )
        elif not url:
            problems.add("project-url", "Must have a URL")
        elif not _is_valid_url(url):
            problems.add("project-url", f"{url!r} is not a valid url")
    _check_classifiers(raw.get("classifiers") or [], problems)
    for field, email_name in (
        ("author_email", "author-email"),
        ("maintainer_email", "maintainer-email"),
    ):
        value = raw.get(field)
        if isinstance(value, str):
            _check_email_addresses(value, email_name, problems)
    if raw.get("license") and raw.get("license_expression"):
        problems.add(
            "license",
            "License is deprecated when License-Expression is present. "
            "Only License-Expression should be present",
        )


# Classifiers a private index must take although PyPI refuses them: "Private :: Do Not Upload"
# exists precisely to keep a package off PyPI while it is published somewhere like here.
_PRIVATE_CLASSIFIER_PREFIX = "Private ::"


def _check_classifiers(values: list[str], problems: _Problems) -> None:
    """PyPI's rule: every classifier is on the official list (the trove-classifiers package)
    and not deprecated there."""
    from trove_classifiers import classifiers, deprecated_classifiers

    for value in values:
        if value.startswith(_PRIVATE_CLASSIFIER_PREFIX):
            continue
        if value in deprecated_classifiers:
            instead = deprecated_classifiers[value]
            problems.add(
                "classifier",
                f"Classifier {value!r} has been deprecated, use the following classifier(s) "
                f"instead: {instead}"
                if instead
                else f"Classifier {value!r} has been deprecated",
            )
        elif value not in classifiers:
            problems.add("classifier", f"{value!r} is not a valid classifier")


def _check_email_addresses(value: str, email_name: str, problems: _Problems) -> None:
    """PyPI's rule: each address in Author-email / Maintainer-email is a valid address (its
    syntax and domain name; nothing is looked up)."""
    from email_validator import EmailNotValidError, validate_email

    for address in _addresses(value):
        try:
            validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            problems.add(email_name, f"{address!r} is not a valid email address: {exc}")


_ANGLE_ADDRESS_RE = re.compile(r"<([^<>]*)>\s*$")


def _addresses(value: str) -> list[str]:
    """The addresses in an Author-email style header: comma-separated ``Name <address>`` or
    bare addresses, with commas allowed inside quoted names. Unlike
    :func:`email.utils.getaddresses`, a malformed entry is returned as it is (to be refused),
    never cut down to something that parses."""
    entries: list[str] = []
    current: list[str] = []
    quoted = False
    angle = 0
    for char in value:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            angle += 1
        elif not quoted and char == ">":
            angle -= 1
        elif char == "," and not quoted and angle == 0:
            entries.append("".join(current))
            current = []
            continue
        current.append(char)
    entries.append("".join(current))
    found = []
    for entry in map(str.strip, entries):
        if entry:
            match = _ANGLE_ADDRESS_RE.search(entry)
            found.append(match.group(1).strip() if match else entry)
    return found


def _decode(data: bytes, source: str) -> bytes:
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DistError(
            f"Invalid distribution metadata: {source} is not valid UTF-8 "
            f"(invalid byte at offset {exc.start})."
        ) from None
    if "\x00" in text:
        raise DistError(f"Invalid distribution metadata: {source} contains NUL characters.")
    return body


def _as_list(value: Any) -> list[Any] | None:
    items = list(value) if value is not None else []
    return items or None


def validate_metadata(data: bytes, source: str) -> ValidatedMetadata:
    """Parse and validate METADATA / PKG-INFO bytes; *source* names the file in errors.

    Raises :class:`DistError` listing every problem found.
    """
    body = _decode(data, source)
    try:
        parsed, unparsed = parse_email(body)
    except Exception:
        raise DistError(f"Invalid distribution metadata: {source} cannot be parsed.") from None
    raw: dict[str, Any] = dict(parsed)
    problems = _Problems()
    for key in unparsed:
        if _packaging_knows(key):
            problems.add(key, f"{key!r} has invalid data")

    metadata_version = raw.get("metadata_version")
    if not metadata_version:
        problems.add("metadata-version", "'metadata-version' is a required field")
    elif metadata_version not in ACCEPTED_METADATA_VERSIONS:
        problems.add("metadata-version", f"{metadata_version!r} is not a valid metadata version")

    _drop_unknown_values(raw)
    legacy_ok = _check_requirements(raw, metadata_version in _PRE_PEP508_VERSIONS, problems)
    _check_pypi_rules(raw, problems)

    to_validate = dict(raw, metadata_version=_validation_version())
    if "requires_dist" in to_validate:
        to_validate["requires_dist"] = [r for r in raw["requires_dist"] if r not in legacy_ok]
    meta: Metadata | None = None
    try:
        meta = Metadata.from_raw(cast(RawMetadata, to_validate), validate=True)
    except ExceptionGroup as group:
        for exc in group.exceptions:
            problems.add(getattr(exc, "field", ""), _first_line(exc))
    except Exception as exc:
        problems.add("", _first_line(exc))
    problems.raise_if_any(source)
    if meta is None or not isinstance(metadata_version, str):  # pragma: no cover - reported above
        raise DistError(f"Invalid distribution metadata in {source}.")
    return _build(meta, raw, metadata_version)


def _build(meta: Metadata, raw: dict[str, Any], metadata_version: str) -> ValidatedMetadata:
    name: str = raw["name"]
    version: str = raw["version"]
    requires_python: str | None = raw.get("requires_python")
    license_files = tuple(meta.license_files or ())
    fields: dict[str, Any] = {
        "metadata_version": metadata_version,
        "name": name,
        "version": version,
        "summary": meta.summary,
        "description": meta.description,
        "description_content_type": meta.description_content_type,
        "author": meta.author,
        "author_email": meta.author_email,
        "maintainer": meta.maintainer,
        "maintainer_email": meta.maintainer_email,
        "license": meta.license,
        "license_expression": (
            str(meta.license_expression) if meta.license_expression is not None else None
        ),
        "license_files": _as_list(license_files),
        "keywords": ", ".join(meta.keywords) if meta.keywords else None,
        "classifiers": _as_list(meta.classifiers),
        "platform": _as_list(meta.platforms),
        "home_page": meta.home_page,
        "download_url": meta.download_url,
        "requires_python": requires_python,
        "requires_dist": _as_list(raw.get("requires_dist")),
        "provides_extra": _as_list(str(extra) for extra in meta.provides_extra or ()),
        "project_urls": dict(meta.project_urls) if meta.project_urls else None,
        "dynamic": _as_list(field.title() for field in meta.dynamic or ()),
        "requires_external": _as_list(raw.get("requires_external")),
        "provides_dist": _as_list(raw.get("provides_dist")),
        "obsoletes_dist": _as_list(raw.get("obsoletes_dist")),
    }
    return ValidatedMetadata(
        metadata_version=metadata_version,
        name=name,
        version=version,
        parsed_version=meta.version,
        requires_python=requires_python,
        summary=meta.summary,
        license_files=license_files,
        fields=fields,
    )
