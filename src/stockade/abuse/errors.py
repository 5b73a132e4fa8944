"""The one error of the abuse services: a refusal with an HTTP status and a one-line message."""

from __future__ import annotations

__all__ = ["AbuseError"]


class AbuseError(Exception):
    """A report, quarantine or name action refused; ``message`` names the rule."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
