"""OSV advisory documents for tests, a folder of them to import, and one advisory on the
corpus's idna (the year 2099 says it is not real)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["IDNA_ADVISORY", "affecting", "osv", "write"]


def osv(
    osv_id: str, name: str, *, modified: str = "2024-01-01T00:00:00Z", **extra: Any
) -> dict[str, Any]:
    """An OSV document: ``osv_id`` affects ``name`` below 2.0 (unless ``extra`` says else)."""
    doc: dict[str, Any] = {
        "id": osv_id,
        "modified": modified,
        "published": "2023-12-01T00:00:00Z",
        "summary": f"{osv_id} in {name}",
        "details": f"Details of {osv_id}.",
        "affected": [
            {
                "package": {"name": name, "ecosystem": "PyPI"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
                ],
            }
        ],
    }
    doc.update(extra)
    return doc


def affecting(osv_id: str, name: str, *versions: str) -> dict[str, Any]:
    """An OSV document that affects exactly these versions of ``name``."""
    package = {"name": name, "ecosystem": "PyPI"}
    return osv(osv_id, name, affected=[{"package": package, "versions": list(versions)}])


def write(folder: Path, *docs: dict[str, Any]) -> Path:
    """The documents as ``<id>.json`` files in ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (folder / f"{doc['id']}.json").write_text(json.dumps(doc))
    return folder


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
