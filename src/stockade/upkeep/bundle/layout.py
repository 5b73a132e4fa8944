"""A bundle's layout: a folder (or the same folder in a ``.tar``) holding

- ``manifest.json``: the format, the schema revision of the index it came from, what was
  selected, the sha256 of ``rows.jsonl``, each blob's size by its sha256, and the usernames
  the rows' user ids stand for (a selection carries no user rows);
- ``rows.jsonl``: the rows, one JSON line each (:mod:`stockade.upkeep.portable`'s format);
- ``blobs/sha256/<aa>/<bb>/<sha256>``: the files and their metadata sidecars.

Nothing in a bundle is trusted before it is checked: the manifest is validated, the rows file
and every blob are hashed against it before anything is written.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockade.index.paths import blob_key
from stockade.upkeep.backup import sha256_of

__all__ = [
    "BLOBS",
    "FORMAT",
    "MANIFEST",
    "ROWS",
    "BundleError",
    "Manifest",
    "blob_path",
    "opened",
    "read_manifest",
    "sha256_of",
    "write_manifest",
    "write_tar",
]

FORMAT = "stockade-bundle/1"
MANIFEST = "manifest.json"
ROWS = "rows.jsonl"
BLOBS = "blobs"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BundleError(Exception):
    """The export or import cannot be done; the message says why."""


@dataclass(frozen=True)
class Manifest:
    """What a bundle says it holds."""

    schema: str
    selection: dict[str, Any]
    rows_sha256: str
    blobs: dict[str, int]
    usernames: dict[int, str]
    created_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created_at": self.created_at,
            "schema": self.schema,
            "selection": self.selection,
            "rows_sha256": self.rows_sha256,
            "blobs": self.blobs,
            "usernames": {str(k): v for k, v in sorted(self.usernames.items())},
        }

    @property
    def whole(self) -> bool:
        """Whether the bundle holds a whole index (every table's rows)."""
        return self.selection.get("kind") == "whole"


def blob_path(root: Path, digest: str) -> Path:
    """Where a blob sits in a bundle folder."""
    return root.joinpath(BLOBS, *blob_key(digest).split("/"))


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Write the manifest last: a folder without one is not a bundle (an export cut short)."""
    (root / MANIFEST).write_text(json.dumps(manifest.as_json(), indent=1) + "\n", "utf-8")


def read_manifest(root: Path) -> Manifest:
    """The manifest of the bundle folder ``root``, its every field checked for shape."""
    try:
        doc = json.loads((root / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{root} is not a stockade bundle (no readable {MANIFEST})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise BundleError(f"{root}: not a bundle of the format {FORMAT} (found {found!r})")
    blobs, usernames = doc.get("blobs"), doc.get("usernames")
    rows_sha256, schema = doc.get("rows_sha256"), doc.get("schema")
    selection = doc.get("selection")
    if not (
        isinstance(blobs, dict)
        and all(
            isinstance(k, str) and _SHA256.fullmatch(k) and type(v) is int and v >= 0
            for k, v in blobs.items()
        )
        and isinstance(usernames, dict)
        and all(k.isdigit() and isinstance(v, str) for k, v in usernames.items())
        and isinstance(rows_sha256, str)
        and _SHA256.fullmatch(rows_sha256)
        and isinstance(schema, str)
        and isinstance(selection, dict)
    ):
        raise BundleError(f"{root}: the manifest is malformed")
    return Manifest(
        schema=schema,
        selection=selection,
        rows_sha256=rows_sha256,
        blobs=blobs,
        usernames={int(k): v for k, v in usernames.items()},
        created_at=str(doc.get("created_at", "")),
    )


def write_tar(folder: Path, dest: Path) -> None:
    """Pack a bundle folder into ``dest`` (written beside it, then renamed: never half a tar)."""
    partial = dest.with_name(dest.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != MANIFEST:
                tar.add(path, arcname=path.relative_to(folder).as_posix())
        tar.add(folder / MANIFEST, arcname=MANIFEST)
    partial.replace(dest)


@contextmanager
def opened(src: Path, scratch: Path) -> Iterator[Path]:
    """The bundle folder of ``src``: itself, or a ``.tar`` unpacked under ``scratch`` (only
    regular files and folders, never outside it), removed afterwards."""
    if src.is_dir():
        yield src
        return
    if not src.is_file():
        raise BundleError(f"{src}: no such folder or file")
    scratch.mkdir(parents=True, exist_ok=True)
    unpacked = Path(tempfile.mkdtemp(prefix="bundle-", dir=scratch))
    try:
        try:
            with tarfile.open(src, "r:*") as tar:
                for member in tar.getmembers():
                    if not (member.isfile() or member.isdir()):
                        raise BundleError(f"{src}: {member.name!r} is not a regular file")
                tar.extractall(unpacked, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise BundleError(f"{src} is not a readable bundle (.tar): {exc}") from exc
        yield unpacked
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
