"""How long-running upkeep (fsck, backup, restore) reports its progress to the CLI."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "Silent"]


class Progress(Protocol):
    """Told what a long task is doing (the CLI draws a progress bar)."""

    def phase(self, description: str, total: int | None) -> None:
        """A new phase of ``total`` steps (None: not known in advance) begins."""

    def advance(self) -> None:
        """One step of the current phase is done."""


class Silent:
    """No progress shown."""

    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self) -> None:
        pass
