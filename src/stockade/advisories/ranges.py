"""Whether a version is affected: an OSV ``affected`` entry's ``versions`` list and its
ECOSYSTEM ranges (``introduced``, ``fixed``, ``last_affected``, ``limit``), compared as PEP 440
versions with ``packaging``. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

__all__ = ["affects", "canonical_versions", "fixed_versions", "in_range", "parse_version"]

Events = Sequence[dict[str, str]]

# "introduced: 0" means "from the very first version".
_ZERO = "0"


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version | None:
    """The PEP 440 version, or None for a legacy string such as ``2013d`` or a commit hash."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


@lru_cache(maxsize=65536)
def _canonical(text: str) -> str:
    return canonicalize_version(text.strip())


def canonical_versions(versions: Iterable[str]) -> list[str]:
    """An advisory's ``versions`` list as :func:`affects` compares it: 1.0 and 1.0.0 are one
    version (as PyPI treats releases); legacy strings stay as written."""
    return sorted({_canonical(v) for v in versions})


def in_range(version: Version, events: Events) -> bool:
    """Whether ``version`` is inside one ECOSYSTEM range.

    The events are walked in version order: ``introduced`` at or below the version opens the
    range, ``fixed`` at or below it closes it, ``last_affected`` below it closes it; ``limit``
    excludes everything at or above it. Events whose version cannot be parsed are ignored, as
    a range cannot be evaluated across them.
    """
    ordered: list[tuple[Version | None, str]] = []
    limits: list[Version] = []
    for event in events:
        for kind, value in event.items():
            if kind == "limit":
                if value == "*":
                    continue
                parsed = parse_version(value)
                if parsed is not None:
                    limits.append(parsed)
                continue
            if kind not in ("introduced", "fixed", "last_affected"):
                continue
            if kind == "introduced" and value == _ZERO:
                ordered.append((None, kind))
                continue
            parsed = parse_version(value)
            if parsed is not None:
                ordered.append((parsed, kind))
    # None ("0") sorts first; at one version, "introduced" before the events that close.
    ordered.sort(key=lambda e: (e[0] is not None, e[0] or Version("0"), e[1] != "introduced"))
    affected = False
    for at, kind in ordered:
        if kind == "introduced":
            if at is None or version >= at:
                affected = True
        elif kind == "fixed":
            if at is not None and version >= at:
                affected = False
        elif at is not None and version > at:  # last_affected
            affected = False
    if affected and limits and not any(version < limit for limit in limits):
        return False
    return affected


def affects(version: str, versions: Sequence[str], ranges: Iterable[Events]) -> bool:
    """Whether ``version`` is listed in ``versions`` (made by :func:`canonical_versions`) or
    falls inside one of ``ranges``."""
    if _canonical(version) in versions:
        return True
    parsed = parse_version(version)
    if parsed is None:
        return False
    return any(in_range(parsed, events) for events in ranges)


def fixed_versions(ranges: Iterable[Events]) -> list[str]:
    """Every ``fixed`` version of the ranges, lowest first (PyPI's ``fixed_in``)."""
    found = {e["fixed"] for events in ranges for e in events if "fixed" in e}
    parsed = sorted((v, t) for t in found if (v := parse_version(t)) is not None)
    legacy = sorted(t for t in found if parse_version(t) is None)
    return [t for _, t in parsed] + legacy
