"""The single exception type raised by :mod:`stockade.dists`."""

from __future__ import annotations

__all__ = ["DistError"]

# Longest message we hand to the HTTP layer; user-controlled values can be huge.
_MAX_MESSAGE_LENGTH = 2000


class DistError(ValueError):
    """One-line, user-facing reason; the HTTP layer returns it as a 400."""

    def __init__(self, message: str) -> None:
        # Guarantee a single line of bounded length whatever ended up in the message.
        line = " ".join(message.splitlines()).strip()
        if len(line) > _MAX_MESSAGE_LENGTH:
            line = line[: _MAX_MESSAGE_LENGTH - 3] + "..."
        super().__init__(line)

    @property
    def message(self) -> str:
        """The one-line reason."""
        return str(self.args[0])
