"""The one error of the lifecycle services: a refusal with an HTTP status and a message."""

from __future__ import annotations

from stockade.errors import ServiceError

__all__ = ["LifecycleError"]


class LifecycleError(ServiceError):
    """A lifecycle action refused, with PyPI-like status and a one-line reason naming the rule."""
