"""``stockade import folder DIR``: the files of a pypiserver folder or of ``pip download``.

Such a folder is flat (pip) or holds one sub-folder per project (pypiserver); either way every
file whose name is a distribution's is imported, with its modification time as its upload
time. Other files (signatures, ``index.html``, checksums) are left, and counted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stockade.upkeep.moving.files import Candidate, MoveError, is_distribution_name, mtime_of

__all__ = ["FolderScan", "scan_folder"]


@dataclass(frozen=True)
class FolderScan:
    """A folder's distribution files, and how many other files it held."""

    candidates: list[Candidate]
    ignored: int


def scan_folder(folder: Path, owner: str) -> FolderScan:
    """Every distribution file under ``folder`` (sub-folders included, hidden ones not), to
    be owned by ``owner``."""
    if not folder.is_dir():
        raise MoveError(f"{folder} is not a folder")
    candidates = []
    ignored = 0
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(root, name)
            if is_distribution_name(name) and path.is_file():
                candidates.append(Candidate(path, owner, mtime_of(path)))
            else:
                ignored += 1
    return FolderScan(candidates, ignored)
