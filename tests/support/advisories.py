"""Advisories written for tests (the year 2099 says they are not real)."""

from __future__ import annotations

from typing import Any

__all__ = ["IDNA_ADVISORY"]

# On every idna from 3.0 (the corpus's requests depset has one), with one alias.
IDNA_ADVISORY: dict[str, Any] = {
    "id": "PYSEC-2099-10",
    "modified": "2099-01-01T00:00:00Z",
    "published": "2099-01-01T00:00:00Z",
    "aliases": ["CVE-2099-10"],
    "summary": "Test advisory on idna",
    "details": "Written by stockade's tests.",
    "affected": [
        {
            "package": {"name": "IDNA", "ecosystem": "PyPI", "purl": "pkg:pypi/idna"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "3.0"}, {"fixed": "99.0"}]}],
        }
    ],
}
