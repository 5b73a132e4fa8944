"""The data folder is private: the SQLite database holds password hashes and TOTP seeds, the
folder holds the secret key, the settings (a database password, S3 keys) and the uploads.

``stockade`` runs with umask 077, so everything it creates is the owner's alone (folders 0700,
files 0600, the SQLite WAL and shared-memory files included); :func:`make_private` tightens
what an older version or another tool left readable.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from stockade.config import Settings

__all__ = ["PRIVATE_UMASK", "make_private"]

PRIVATE_UMASK = 0o077


def _chmod(path: Path, mode: int) -> bool:
    """Set ``mode`` on an existing path we own; True when it changed."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
            return True
    return False


def make_private(settings: Settings) -> list[Path]:
    """Make the data folder 0700 and its secrets and database files 0600 (the blobs are under
    the private folder, and new ones are written 0600); returns what was changed."""
    data = settings.data_dir
    changed = [data] if _chmod(data, 0o700) else []
    secrets = [data / "stockade.toml", data / "secret_key"]
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db = Path(url.database or "")
        secrets += [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
    for path in secrets:
        if _chmod(path, 0o600):
            changed.append(path)
    for folder in (settings.tmp_dir, data / "files", data / "outbox", data / "metrics"):
        if folder.is_dir() and _chmod(folder, 0o700):
            changed.append(folder)
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(settings.tmp_dir):
            if entry.is_file(follow_symlinks=False) and _chmod(Path(entry.path), 0o600):
                changed.append(Path(entry.path))
    return changed
