"""The one error of the lifecycle services: a refusal with an HTTP status and a message."""

from __future__ import annotations

__all__ = ["LifecycleError"]


class LifecycleError(Exception):
    """A lifecycle action refused, with PyPI-like status and a one-line reason naming the rule."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
