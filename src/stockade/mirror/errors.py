"""The one error of the mirror services: a refusal with an HTTP status and a message."""

from __future__ import annotations

from stockade.errors import ServiceError

__all__ = ["MirrorError"]


class MirrorError(ServiceError):
    """A mirror action refused, with a status and a one-line reason naming the rule."""
