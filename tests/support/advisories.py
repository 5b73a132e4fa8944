"""OSV advisory documents for tests, and a folder of them to import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
