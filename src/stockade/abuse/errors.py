"""The one error of the abuse services: a refusal with an HTTP status and a one-line message."""

from __future__ import annotations

from stockade.errors import ServiceError

__all__ = ["AbuseError"]


class AbuseError(ServiceError):
    """A report, quarantine or name action refused; ``message`` names the rule."""
