"""The legacy upload form as the upload use case reads it: its fields, and its file spooled to
disk and hashed on the way (the face's streaming reader fills it in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["UploadForm", "UploadedFile"]


@dataclass
class UploadedFile:
    """The ``content`` part, spooled to disk and hashed."""

    path: Path
    filename: str
    size: int
    sha256: str
    blake2_256: str
    md5: str

    def discard(self) -> None:
        """Remove the temporary file."""
        self.path.unlink(missing_ok=True)


@dataclass
class UploadForm:
    """Every non-file field (repeated fields keep every value) and the file."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    file: UploadedFile | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of a field, or ``default``."""
        values = self.fields.get(name)
        return values[0] if values else default

    def getall(self, name: str) -> list[str]:
        """Every value of a field."""
        return self.fields.get(name, [])
