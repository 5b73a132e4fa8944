"""What one verification step is: the log's inclusion (:mod:`stockade.verify.logcheck`) now,
TUF target info beside it later. Each step opens once per run (fetching and checking what it
trusts), checks every target, and closes (remembering what it learned) only if all passed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Check", "Target", "VerifyError"]


class VerifyError(Exception):
    """Verification failed; the message says why in plain words."""


@dataclass(frozen=True)
class Target:
    """A file to verify: its name and the sha256 the client has for it (of the bytes on disk,
    or the one the index's page lists), and where that came from (for messages)."""

    filename: str
    sha256: str
    source: str


class Check(Protocol):
    name: str

    def open(self) -> None:
        """Fetch and check what this step trusts (a signed checkpoint, signed metadata)."""

    def check(self, target: Target) -> str:
        """Verify one target; returns a short note ("entry 12"), raises :class:`VerifyError`."""

    def close(self) -> None:
        """Every target passed: remember what was learned (the checkpoint) for the next run."""
